"""Near-duplicate passes over a dataset's embeddings, run off the request path with their progress in storage.

A pass reads the vectors as a stream from the vector index (`near_duplicates.find_groups`), so its
memory stays bounded by the dataset's size, not its square. Beside the local job runner it runs on a
thread of the server; on AWS the API function cannot keep working after it answers, so the record's
write reaches the indexer function as a storage event, which runs the pass (`on_key`). Its record
and result live under the dataset in storage; the groups are checked against the search index when
read, so items deleted since (the extras a user removed) drop out of them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import SearchIndex
from service.domain.near_duplicates import find_groups
from service.domain.similarity import Similarity
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
PROGRESS_SECONDS = 1.0  # how often a running pass writes its progress
# A pass whose record has not moved for this long is not running anywhere (the server stopped).
STALE_SECONDS = 120.0


class DuplicateRuns:
    def __init__(self, blobs: BlobStore, index: SearchIndex, similarity: Similarity, in_process: bool = True):
        """`in_process`: run passes on this process's thread (else the record's storage event runs them)."""
        self.in_process = in_process
        self.blobs = blobs
        self.index = index
        self.similarity = similarity
        self.vectors = similarity.vectors
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edna-duplicates")
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def _save(self, tenant: str, run: dict) -> None:
        run["updated_at"] = time.time()
        key = layout.duplicates_run(tenant, run["dataset_id"], run["id"])
        self.blobs.put_bytes(key, json.dumps(run).encode(), "application/json")

    def start(self, principal: Principal, dataset_id: str, model_id: str | None, threshold: float) -> dict:
        """Record a pass and queue it; the record (status queued) is the answer."""
        tenant = principal.tenant
        chosen = self.similarity.vector_set(tenant, dataset_id, model_id)
        run = {
            "id": new_id(),
            "dataset_id": dataset_id,
            "model_id": chosen.model_id,
            "job_id": chosen.job_id,
            "threshold": threshold,
            "status": QUEUED,
            "progress": {"done": 0, "total": chosen.count},
            "group_count": 0,
            "created_by": principal.user,
            "created_at": now_iso(),
        }
        self._save(tenant, run)
        if self.in_process:
            with self._lock:
                self._running.add(run["id"])
            self._pool.submit(self._run, tenant, dict(run))
        return run

    def on_key(self, key: str) -> None:
        """A storage event (the indexer function): run the pass whose record was written, if still queued.
        Its own progress writes come back as events too, and find it running."""
        found = layout.parse_duplicates_run(key)
        if found is None:
            return
        tenant, dataset_id, run_id = found
        try:
            run = json.loads(self.blobs.get_bytes(key))
        except ObjectMissing:
            return
        if run.get("status") == QUEUED and run.get("id") == run_id and run.get("dataset_id") == dataset_id:
            self._run(tenant, run)

    def _run(self, tenant: str, run: dict) -> None:
        dataset_id, model_id = run["dataset_id"], run["model_id"]
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_SECONDS or done == total:
                last = time.monotonic()
                run["progress"] = {"done": done, "total": total}
                self._save(tenant, run)

        try:
            run["status"] = RUNNING
            self._save(tenant, run)
            groups = find_groups(
                lambda: self.vectors.scan(tenant, dataset_id, model_id),
                run["threshold"],
                progress,
                run["progress"]["total"],
            )
            lines = (json.dumps({"item_ids": ids, "similarity": round(float(s), 6)}) + "\n" for ids, s in groups)
            body = "".join(lines).encode()
            self.blobs.put_bytes(layout.duplicates_groups(tenant, dataset_id, run["id"]), body, "application/x-ndjson")
            run.update(status=SUCCEEDED, group_count=len(groups), finished_at=now_iso())
            run["progress"]["done"] = run["progress"]["total"]
        except Exception as exc:
            logging.getLogger("edna.duplicates").exception("duplicate pass %s failed", run["id"])
            run.update(status=FAILED, error=str(exc)[:500] or type(exc).__name__, finished_at=now_iso())
        finally:
            self._save(tenant, run)
            with self._lock:
                self._running.discard(run["id"])

    def get(self, tenant: str, dataset_id: str, run_id: str) -> dict:
        """The pass's record; one left running by a stopped server reads as failed."""
        if not is_id(run_id):
            raise NotFound("duplicate pass not found")
        try:
            run = json.loads(self.blobs.get_bytes(layout.duplicates_run(tenant, dataset_id, run_id)))
        except ObjectMissing:
            raise NotFound("duplicate pass not found") from None
        with self._lock:
            here = run_id in self._running
        stale = time.time() - float(run.get("updated_at", 0)) > STALE_SECONDS
        if run["status"] in (QUEUED, RUNNING) and not here and stale and self.in_process:
            run.update(status=FAILED, error="the pass stopped with the server that ran it; start it again")
        return run

    def groups(self, tenant: str, run: dict, offset: int, limit: int) -> tuple[list[dict], int | None]:
        """Groups `offset`.. of a finished pass, each kept to its live items (a group left with one is
        dropped), and the offset of the next page."""
        if run["status"] != SUCCEEDED:
            return [], None
        key = layout.duplicates_groups(tenant, run["dataset_id"], run["id"])
        lines = self.blobs.get_bytes(key).splitlines()
        page = []
        for line in lines[offset : offset + limit]:
            group = json.loads(line)
            live = [i for i in group["item_ids"] if self.index.get(tenant, run["dataset_id"], i) is not None]
            if len(live) > 1:
                page.append({**group, "item_ids": live})
        following = offset + limit
        return page, (following if following < len(lines) else None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
