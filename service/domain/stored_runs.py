"""Work run off the request path whose record (request, status, progress) lives in storage beside its
dataset: near-duplicate passes and bulk runs.

Beside the local job runner a run goes on a thread of the server. On AWS the API function cannot keep
working after it answers, so the record's write reaches the indexer function as a storage event, which
runs it there (`on_key`); its own progress writes come back as events too, and find it running. A run
whose record stopped moving while no process here holds it was left by a stopped server: it reads as
failed.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.vocabulary.errors import NotFound
from service.vocabulary.ids import is_id

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
PROGRESS_SECONDS = 1.0  # how often a running run writes its progress
STALE_SECONDS = 120.0  # a run whose record has not moved for this long is not running anywhere


class StoredRuns(ABC):
    noun = "run"  # what a run is called in messages: "duplicate pass", "bulk run"

    def __init__(self, blobs: BlobStore, in_process: bool, thread_name: str):
        """`in_process`: run on this process's thread (else the record's storage event runs it)."""
        self.blobs = blobs
        self.in_process = in_process
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._running: set[str] = set()
        self._lock = threading.Lock()

    @abstractmethod
    def record_key(self, tenant: str, dataset_id: str, run_id: str) -> str:
        """Where a run's record lives (service/vocabulary/layout.py)."""

    @abstractmethod
    def parse_key(self, key: str) -> tuple[str, str, str] | None:
        """(tenant, dataset id, run id) of a record's key; None for every other key."""

    @abstractmethod
    def _run(self, tenant: str, run: dict) -> None:
        """Do the work, saving progress and the outcome in the record."""

    def _save(self, tenant: str, run: dict) -> None:
        run["updated_at"] = time.time()
        key = self.record_key(tenant, run["dataset_id"], run["id"])
        self.blobs.put_bytes(key, json.dumps(run).encode(), "application/json")

    def _queue(self, tenant: str, run: dict) -> None:
        """Save the queued record; here, run it on this process's thread."""
        self._save(tenant, run)
        if self.in_process:
            with self._lock:
                self._running.add(run["id"])
            self._pool.submit(self._run_here, tenant, dict(run))

    def _run_here(self, tenant: str, run: dict) -> None:
        try:
            self._run(tenant, run)
        finally:
            with self._lock:
                self._running.discard(run["id"])

    def on_key(self, key: str) -> None:
        """A storage event (the indexer function): run the run whose record was written, if still queued."""
        found = self.parse_key(key)
        if found is None:
            return
        tenant, dataset_id, run_id = found
        try:
            run = json.loads(self.blobs.get_bytes(key))
        except ObjectMissing:
            return
        if run.get("status") == QUEUED and run.get("id") == run_id and run.get("dataset_id") == dataset_id:
            self._run(tenant, run)

    def get(self, tenant: str, dataset_id: str, run_id: str) -> dict:
        """The run's record; one left running by a stopped server reads as failed."""
        if not is_id(run_id):
            raise NotFound(f"{self.noun} not found")
        try:
            run = json.loads(self.blobs.get_bytes(self.record_key(tenant, dataset_id, run_id)))
        except ObjectMissing:
            raise NotFound(f"{self.noun} not found") from None
        with self._lock:
            here = run_id in self._running
        stale = time.time() - float(run.get("updated_at", 0)) > STALE_SECONDS
        # On AWS a queued record may still wait for its event, but a running one writes every second:
        # silent, its function was stopped (the 15-minute limit).
        left = run["status"] == RUNNING or (run["status"] == QUEUED and self.in_process)
        if left and not here and stale:
            run.update(status=FAILED, error=f"the {self.noun} stopped with the server that ran it; start it again")
        return run

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
