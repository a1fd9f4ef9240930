"""LocalJobRunner: worker processes of the service running the engine in the DAG's order."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from service.adapters import shared_db
from service.adapters.jobrunner import JobRunner, landlock
from service.adapters.jobrunner.engine_storage import BlobStoreStorage, StoreAddress

log = logging.getLogger("edna.jobs")
SHARD_ATTEMPTS = 3  # as the DAG's retries: a resumed shard skips the parts already written
FAILED_EXIT = 3
POLL_SECONDS = 0.5  # how soon a dispatcher finds a run another process of the server queued

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, params TEXT NOT NULL, state TEXT NOT NULL, queued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_waiting ON runs (state, queued_at);
"""


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
    they stopped.

    Runs wait in a SQLite table in the data dir, so any process of the server may submit, cancel and
    ask about a run while one process dispatches them (`dispatch`: from the first submit, as the
    development server and tests do; else once the server's runner calls `follow`). A run is claimed
    in one write transaction: however many dispatchers there are, each run starts once."""

    name = "local"

    def __init__(self, store: StoreAddress, queue: Path, workers: int = 1, dispatch: bool = True):
        self.store = store
        self.workers = workers
        self.dispatch = dispatch
        self._db = shared_db.connect(queue)
        self._db.executescript(SCHEMA)
        self._processes: dict[str, multiprocessing.Process] = {}
        self._dispatchers: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards the connection, the processes and `_closed`
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self.finished = []

    def follow(self) -> None:
        """Start the dispatchers: they run what any process of the server queued, and each reports the job it ran."""
        with self._lock:
            if self._dispatchers or self._closed:
                return
            # One dispatching process per data dir: a run it finds running was left by a stopped one.
            self._db.execute("UPDATE runs SET state = 'stopped' WHERE state = 'running'")
            for n in range(self.workers):
                thread = threading.Thread(target=self._dispatch, name=f"edna-jobs-{n}", daemon=True)
                thread.start()
                self._dispatchers.append(thread)

    def _claim(self) -> dict | None:
        """The oldest queued run, now marked running; None once the runner is closed."""
        with self._wake:
            while not self._closed:
                with shared_db.immediate(self._db) as db:
                    row = db.execute(
                        "SELECT run_id, params FROM runs WHERE state = 'queued' ORDER BY queued_at LIMIT 1"
                    ).fetchone()
                    if row is not None:
                        db.execute("UPDATE runs SET state = 'running' WHERE run_id = ?", (row[0],))
                if row is not None:
                    return json.loads(row[1])
                self._wake.wait(POLL_SECONDS)  # a submit here wakes it at once; one elsewhere is polled for
        return None

    def _dispatch(self) -> None:
        context = multiprocessing.get_context("spawn")
        while (params := self._claim()) is not None:
            run_id = params["job_id"]
            workdir = tempfile.mkdtemp(prefix="edna-job-")  # 0700; removed however the process ends
            process = context.Process(target=_job_process, args=(self.store, params, workdir), daemon=True)
            with self._lock:
                started = not self._closed
                if started:
                    self._processes[run_id] = process
                    process.start()
            if started:
                process.join()
            shutil.rmtree(workdir, ignore_errors=True)
            with self._lock:
                self._processes.pop(run_id, None)
                closed = self._closed
                # ended by close(): "stopped", and the next start resumes it
                state = "stopped" if closed else ("failed" if process.exitcode else "succeeded")
                self._db.execute("UPDATE runs SET state = ? WHERE run_id = ? AND state = 'running'", (state, run_id))
            if not closed:
                self.report_finished(params)

    def submit(self, params: dict) -> str:
        run_id = params["job_id"]
        if self.dispatch:
            self.follow()
        with self._wake:
            # A run already running here is left alone: resubmitting it must not start it twice.
            self._db.execute(
                "INSERT INTO runs (run_id, params, state, queued_at) VALUES (?, ?, 'queued', ?)"
                " ON CONFLICT (run_id) DO UPDATE SET params = excluded.params, state = 'queued',"
                " queued_at = excluded.queued_at WHERE state != 'running'",
                (run_id, json.dumps(params), time.time()),
            )
            self._wake.notify()
        return run_id

    def cancel(self, params: dict, run_id: str) -> None:
        with self._lock:  # a queued run never starts; a running one stops at the engine's marker
            self._db.execute("UPDATE runs SET state = 'cancelled' WHERE run_id = ? AND state = 'queued'", (run_id,))

    def run_state(self, run_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._wake:
            self._closed = True
            running = list(self._processes.values())
            self._wake.notify_all()
        for process in running:
            process.terminate()
            process.join(timeout=10)
        for thread in self._dispatchers:
            thread.join(timeout=10)
