"""Changes to every item a query matches ("select all N matches"), run off the request path.

A run is accepted with the ids its query matched at that moment, written beside its record: it
changes those items and no others, so an item uploaded or relabelled into the query afterwards
stays as it is (the count a person confirmed is the set that changes). Items are changed one by one
through the same services as single requests (labels, tags, deletes: validation, label source,
webhooks), each failure counted against its item. It runs where stored_runs.py says (a thread here,
the indexer function on AWS). The run's end is an audit entry of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

from service.adapters.audit import AuditLog
from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import ItemQuery, ItemRecord, SearchIndex
from service.domain.datasets import Dataset, DatasetCatalog
from service.domain.items import ItemService, check_query
from service.domain.labels import Labeler, person, validate_label, validate_tags
from service.domain.stored_runs import FAILED, PROGRESS_SECONDS, QUEUED, RUNNING, SUCCEEDED, StoredRuns
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, Conflict, DomainError, NotFound
from service.vocabulary.ids import new_id
from service.vocabulary.roles import Principal

LABEL, TAGS, DELETE = "label", "tags", "delete"
ACTIONS = (LABEL, TAGS, DELETE)
KEPT_ERRORS = 20  # the first failures a run reports, item by item
PAGE = 1000  # ids read from the index per query while a run is accepted
# Items changed at once: each change waits on storage (an fsync, an S3 request), so two overlap; more
# only contend for the GIL and the index (benchmarks/bulk_label_by_query.py, 2 cores: 481 items/s with
# 2, 300 with 8). The batch's changed records go to the index together (one transaction, not one per item).
WORKERS = 2
BATCH = 400

log = logging.getLogger("edna.bulk")


class BulkRuns(StoredRuns):
    noun = "bulk run"

    def __init__(
        self,
        blobs: BlobStore,
        index: SearchIndex,
        datasets: DatasetCatalog,
        items: ItemService,
        labels: Labeler,
        audit: AuditLog | None,
        in_process: bool = True,
    ):
        """`audit`: the log a finished run is entered in; `in_process`: run on this process's thread
        (else the record's storage event runs it)."""
        super().__init__(blobs, in_process, "edna-bulk")
        self.index, self.datasets, self.items, self.labels, self.audit = index, datasets, items, labels, audit

    def record_key(self, tenant: str, dataset_id: str, run_id: str) -> str:
        return layout.bulk_run(tenant, dataset_id, run_id)

    def parse_key(self, key: str) -> tuple[str, str, str] | None:
        return layout.parse_bulk_run(key)

    def matching(self, tenant: str, query: ItemQuery) -> int:
        check_query(query)
        return self.index.count(tenant, query)

    def start(
        self, principal: Principal, dataset: Dataset, query: ItemQuery, change: dict, expected: int | None
    ) -> dict:
        """Fix the matching items, record the run and queue it; the record (status queued) is the answer.
        `change`: {"action", "label"?, "tags"?}, checked before anything is written."""
        tenant, action = principal.tenant, change["action"]
        if action == LABEL:
            change = {"action": action, "label": validate_label(dataset, change.get("label"))}
        elif action == TAGS:
            if not change.get("tags"):
                raise BadRequest("give the tags to add: {key: value}")
            change = {"action": action, "tags": validate_tags(change["tags"])}
        check_query(query)
        item_ids = self._matching_ids(tenant, query)
        if expected is not None and expected != len(item_ids):
            raise Conflict(f"{len(item_ids)} items match now, not the {expected} confirmed: count again")
        run = {
            "id": new_id(),
            "dataset_id": dataset.id,
            **change,
            "status": QUEUED,
            "matched": len(item_ids),
            "progress": {"done": 0, "total": len(item_ids)},
            "failed": 0,
            "errors": [],
            "created_by": principal.user,
            "created_at": now_iso(),
        }
        ids_key = layout.bulk_run_items(tenant, dataset.id, run["id"])
        self.blobs.put_bytes(ids_key, "\n".join(item_ids).encode(), "text/plain")
        self._queue(tenant, run)  # last: the record's event finds the ids in place
        return run

    def _matching_ids(self, tenant: str, query: ItemQuery) -> list[str]:
        in_order = replace(query, sort="id")
        found: list[str] = []
        after = None
        while True:
            page = self.index.search(tenant, in_order, PAGE, after)
            found += [r.item_id for r in page]
            if len(page) < PAGE:
                return found
            after = page[-1].item_id

    def _run(self, tenant: str, run: dict) -> None:
        started, last = time.monotonic(), time.monotonic()
        try:
            run["status"] = RUNNING
            self._save(tenant, run)
            dataset = self.datasets.get(tenant, run["dataset_id"])
            ids_key = layout.bulk_run_items(tenant, dataset.id, run["id"])
            item_ids = [i for i in self.blobs.get_bytes(ids_key).decode().split("\n") if i]
            held: list[ItemRecord] = []  # label and tag changes of the batch, indexed together
            act = self._action(tenant, dataset, run, held)

            def attempt(item_id: str) -> dict | None:
                try:
                    act(item_id)
                except (BadRequest, NotFound, Conflict) as exc:  # this item's trouble: counted, the rest go on
                    return {"item_id": item_id, "status": exc.status, "error": exc.message}
                return None

            with ThreadPoolExecutor(WORKERS, thread_name_prefix="edna-bulk-item") as pool:
                for first in range(0, len(item_ids), BATCH):
                    try:
                        failures = [f for f in pool.map(attempt, item_ids[first : first + BATCH]) if f]
                    finally:  # what storage already holds is indexed, even when the run stops midway
                        self.index.upsert_many(held)
                        held.clear()
                    run["failed"] += len(failures)
                    run["errors"] = (run["errors"] + failures)[:KEPT_ERRORS]
                    run["progress"]["done"] = min(first + BATCH, len(item_ids))
                    if time.monotonic() - last >= PROGRESS_SECONDS:
                        last = time.monotonic()
                        self._save(tenant, run)
            run.update(status=SUCCEEDED, finished_at=now_iso())
        except Exception as exc:
            log.exception("bulk run %s failed", run["id"])
            message = exc.message if isinstance(exc, DomainError) else "storage trouble; start it again"
            run.update(status=FAILED, error=message, finished_at=now_iso())
        finally:  # the audit entry first: whoever sees the record finished finds the entry too
            self._enter_in_audit(tenant, run, time.monotonic() - started)
            self._save(tenant, run)

    def _action(self, tenant: str, dataset: Dataset, run: dict, held: list[ItemRecord]) -> Callable[[str], object]:
        if run["action"] == LABEL:
            source = person(run["created_by"])
            return lambda item_id: self.labels.set_label(tenant, dataset, item_id, run["label"], source, held=held)
        if run["action"] == TAGS:

            def tag(item_id: str) -> None:
                record = self.items.get(tenant, dataset.id, item_id)
                self.labels.set_tags(tenant, dataset.id, item_id, {**record.tags, **run["tags"]}, held)

            return tag
        return lambda item_id: self.items.delete(tenant, dataset.id, item_id)

    def _enter_in_audit(self, tenant: str, run: dict, seconds: float) -> None:
        if self.audit is None:
            return
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "request_id": run["id"],
            "tenant": tenant,
            "actor": run["created_by"],
            "action": f"bulk {run['action']} finished",
            "target": {"dataset_id": run["dataset_id"], "run_id": run["id"]},
            "status": 200 if run["status"] == SUCCEEDED else 500,
            "outcome": "ok" if run["status"] == SUCCEEDED else "failed",
            "ms": round(seconds * 1000, 1),
            "matched": run["matched"],
            "done": run["progress"]["done"],
            "failed": run["failed"],
        }
        try:
            self.audit.append(entry)
        except Exception:
            log.exception("audit entry not stored: %s", json.dumps(entry))
