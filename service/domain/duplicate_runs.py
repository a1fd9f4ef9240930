"""Near-duplicate passes over a dataset's embeddings, run off the request path with their progress in storage.

A pass reads the vectors as a stream from the vector index (`near_duplicates.find_groups`), so its
memory stays bounded by the dataset's size, not its square. It runs where stored_runs.py says (a
thread here, the indexer function on AWS). Its record and result live under the dataset in
storage; the groups are checked against the search index when read, so items deleted since (the
extras a user removed) drop out of them.
"""

from __future__ import annotations

import json
import logging
import time

from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import SearchIndex
from service.domain.near_duplicates import find_groups
from service.domain.similarity import Similarity
from service.domain.stored_runs import FAILED, PROGRESS_SECONDS, QUEUED, RUNNING, SUCCEEDED, StoredRuns
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.ids import new_id
from service.vocabulary.roles import Principal


class DuplicateRuns(StoredRuns):
    noun = "duplicate pass"

    def __init__(self, blobs: BlobStore, index: SearchIndex, similarity: Similarity, in_process: bool = True):
        super().__init__(blobs, in_process, "edna-duplicates")
        self.index = index
        self.similarity = similarity
        self.vectors = similarity.vectors

    def record_key(self, tenant: str, dataset_id: str, run_id: str) -> str:
        return layout.duplicates_run(tenant, dataset_id, run_id)

    def parse_key(self, key: str) -> tuple[str, str, str] | None:
        return layout.parse_duplicates_run(key)

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
        self._queue(tenant, run)
        return run

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
