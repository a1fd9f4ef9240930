"""LocalJobRunner: worker processes of the service running the engine in the DAG's order."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from service.adapters.jobrunner import JobRunner, landlock
from service.adapters.jobrunner.engine_storage import BlobStoreStorage, StoreAddress

log = logging.getLogger("edna.jobs")
SHARD_ATTEMPTS = 3  # as the DAG's retries: a resumed shard skips the parts already written
FAILED_EXIT = 3


def run_job(store: StoreAddress, params: dict) -> str:
    """plan → infer every shard → evaluate → finalize, in a worker process; returns the final status."""
    from edna_engine import pipeline
    from edna_engine.params import JobParams

    storage = BlobStoreStorage(store.open())
    job = JobParams.from_dict(params)
    try:
        for shard in pipeline.plan(storage, job):
            for attempt in range(1, SHARD_ATTEMPTS + 1):
                try:
                    pipeline.infer_shard(storage, job, shard)
                    break
                except (OSError, MemoryError, RuntimeError) as exc:
                    if attempt == SHARD_ATTEMPTS:
                        raise
                    log.warning("job %s shard %s attempt %s failed (%s); retrying", job.job_id, shard, attempt, exc)
                    time.sleep(2**attempt)
        if pipeline.read_status(storage, job.output_prefix)["status"] == "cancelled":
            return "cancelled"
        pipeline.evaluate(storage, job)
        pipeline.finalize(storage, job)
        return "succeeded"
    except Exception as exc:
        log.exception("job %s failed", job.job_id)  # the full message stays in the server's log
        pipeline.fail(storage, job, exc)
        return "failed"


def _job_process(store: StoreAddress, params: dict, workdir: str) -> None:
    """A job's process: files it creates are private, relative paths (a model's included) resolve in
    an empty directory of its own, not in the server's where the data dir lives, and where Landlock
    is available the kernel refuses it everything but its code, the blob store and that directory."""
    os.umask(0o077)
    os.chdir(workdir)
    tempfile.tempdir = workdir
    _confine(store, workdir)
    sys.exit(FAILED_EXIT if run_job(store, params) == "failed" else 0)


def _confine(store: StoreAddress, workdir: str) -> bool:
    """Landlock the process to its code, the blob store and `workdir`; False where Landlock is missing."""
    import edna_engine

    import service

    write = [Path(workdir)] + ([Path(store.root)] if store.kind == "local" else [])
    return landlock.restrict([*landlock.code_dirs(service, edna_engine), Path.home() / ".aws"], write)


class LocalJobRunner(JobRunner):
    """Each job runs in its own spawned process, `workers` at a time: a crashing or memory-hungry model
    cannot take the API down. The process is handed the store's address, never the Config. Closing
    the runner ends running jobs; job state lives in storage, so the next start resumes them where
    they stopped."""

    name = "local"

    def __init__(self, store: StoreAddress, workers: int = 1):
        self.store = store
        self.workers = workers
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._states: dict[str, str] = {}
        self._processes: dict[str, multiprocessing.Process] = {}
        self._dispatchers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self.finished = []

    def _dispatch(self) -> None:
        context = multiprocessing.get_context("spawn")
        while (params := self._queue.get()) is not None:
            run_id = params["job_id"]
            with self._lock:
                if self._closed or self._states.get(run_id) == "cancelled":
                    continue
                workdir = tempfile.mkdtemp(prefix="edna-job-")  # 0700; removed however the process ends
                process = context.Process(target=_job_process, args=(self.store, params, workdir), daemon=True)
                self._processes[run_id] = process
                self._states[run_id] = "running"
                process.start()
            process.join()
            shutil.rmtree(workdir, ignore_errors=True)
            with self._lock:
                self._processes.pop(run_id, None)
                if self._closed:
                    self._states[run_id] = "stopped"  # ended by close(): it resumes on the next start
                elif self._states.get(run_id) == "running":
                    self._states[run_id] = "failed" if process.exitcode else "succeeded"
                closed = self._closed
            if not closed:
                self.report_finished(params)

    def submit(self, params: dict) -> str:
        run_id = params["job_id"]
        with self._lock:
            if not self._dispatchers:
                for n in range(self.workers):
                    thread = threading.Thread(target=self._dispatch, name=f"edna-jobs-{n}", daemon=True)
                    thread.start()
                    self._dispatchers.append(thread)
            self._states[run_id] = "queued"
        self._queue.put(params)
        return run_id

    def cancel(self, params: dict, run_id: str) -> None:
        with self._lock:
            if self._states.get(run_id) == "queued":
                self._states[run_id] = "cancelled"  # never starts; a running one stops at the engine's marker

    def run_state(self, run_id: str) -> str | None:
        return self._states.get(run_id)

    def follow(self) -> None:
        """Nothing to watch: each dispatcher reports the job it ran."""

    def close(self) -> None:
        with self._lock:
            self._closed = True
            running = list(self._processes.values())
            for _ in self._dispatchers:
                self._queue.put(None)
        for process in running:
            process.terminate()
            process.join(timeout=10)
