"""Deleting a dataset off the request path, a page at a time, resumable.

The request marks the dataset deleting (from then on it is not found, its listing and every search
leave it out) and writes the deletion's record; the work then removes the dataset page by page from a
cursor kept in that record: its items by the index (each page one index query, one batch delete in
storage, one index write), then whatever else storage holds under it, then its thumbnails, and last
its record. Each page costs the same whatever the dataset's size, nothing holds the whole dataset,
and a stopped deletion resumes from its cursor.

Where it runs follows stored_runs.py: a thread of the server beside the local job runner, which
resumes unfinished deletions when it starts; on AWS the indexer function, which the record's storage
event starts. There a run works SLICE_SECONDS, then saves itself queued with its cursor: that write's
event starts the next slice, so no deletion meets the function's time limit. A deletion that failed, or
whose record stopped moving while no process here runs it (a crash), resumes when DELETE is asked again.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import ItemQuery, SearchIndex, position_of
from service.adapters.vectorindex import VectorIndex
from service.domain.datasets import DatasetCatalog
from service.domain.rebuild import child_names
from service.domain.stored_runs import FAILED, PROGRESS_SECONDS, QUEUED, RUNNING, STALE_SECONDS, SUCCEEDED
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

PAGE = 300  # items per page: their object, thumbnail and annotations fit one S3 batch delete (1,000 keys)
SLICE_SECONDS = 300.0  # on AWS, a run's work per function call (the function may run 15 minutes)
ITEMS, OBJECTS, THUMBNAILS, RECORD = "items", "objects", "thumbnails", "record"
FINAL = (SUCCEEDED,)
RESUMER = "edna (a deletion asked before a restart)"

log = logging.getLogger("edna.deletions")


class DatasetDeletions:
    def __init__(
        self,
        blobs: BlobStore,
        index: SearchIndex,
        vectors: VectorIndex,
        datasets: DatasetCatalog,
        in_process: bool = True,
    ):
        """`in_process`: run on this process's thread (else the record's storage event runs it)."""
        self.blobs, self.index, self.vectors, self.datasets = blobs, index, vectors, datasets
        self.in_process = in_process
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edna-deletions")
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def start(self, principal: Principal, dataset_id: str) -> dict:
        """Mark the dataset deleting and queue its deletion; a deletion under way already is the answer."""
        existing = self._load(principal.tenant, dataset_id)
        if existing is None:
            return self._begin(principal.tenant, principal.user, dataset_id)
        if existing["status"] == FAILED or self._stopped(principal.tenant, existing):
            existing = {**existing, "status": QUEUED}  # resumed from its cursor
            existing.pop("error", None)
            self._queue(principal.tenant, existing)
        return existing

    def _begin(self, tenant: str, user: str, dataset_id: str) -> dict:
        dataset = self.datasets.get(tenant, dataset_id, deleting_too=True)  # marked, when a crash cut a start
        total = self.index.stats(tenant, dataset_id).item_count
        pending = self.index.count(tenant, ItemQuery(dataset_id=dataset_id, status="pending"))
        deletion = {
            "id": new_id(),
            "dataset_id": dataset_id,
            "name": dataset.name,
            "status": QUEUED,
            "progress": {"done": 0, "total": total + pending},
            "cursor": {"phase": ITEMS, "after": None},
            "created_by": user,
            "created_at": now_iso(),
        }
        # The marker first, the intent that a restart finishes (resume_unfinished) if a write below fails:
        # the items leave every search as the dataset leaves the listings.
        self.blobs.put_bytes(layout.deleting_marker(tenant, dataset_id), b"", "application/octet-stream")
        self.datasets.mark_deleting(tenant, dataset_id)
        self._queue(tenant, deletion)  # last: on AWS the record's event starts the work
        return deletion

    def get(self, tenant: str, dataset_id: str) -> dict:
        """The deletion of a dataset; one left running by a stopped server reads as failed."""
        deletion = self._load(tenant, dataset_id) if is_id(dataset_id) else None
        if deletion is None:
            raise NotFound("no deletion of this dataset")
        if self._stopped(tenant, deletion):
            deletion.update(status=FAILED, error="it stopped with the server that ran it; DELETE the dataset again")
        return deletion

    def hidden(self, tenant: str) -> tuple[str, ...]:
        """The datasets being deleted, whose items no search returns."""
        return tuple(child_names_of_keys(self.blobs, layout.deleting_prefix(tenant)))

    def resume_unfinished(self) -> int:
        """After a restart of the local runner: queue again every deletion not finished (each resumes from
        its cursor), and begin those whose request stopped between its marker and its record."""
        resumed = 0
        for tenant in child_names(self.blobs, layout.TENANTS):
            for dataset_id in self.hidden(tenant):
                deletion = self._load(tenant, dataset_id)
                if deletion is None:
                    try:
                        self._begin(tenant, RESUMER, dataset_id)
                    except NotFound:  # its record went already: only the marker was left
                        self.blobs.delete_many([layout.deleting_marker(tenant, dataset_id)])
                        continue
                elif deletion["status"] in FINAL:
                    self.blobs.delete_many([layout.deleting_marker(tenant, dataset_id)])
                    continue
                else:
                    self._queue(tenant, {**deletion, "status": QUEUED})
                resumed += 1
        return resumed

    def on_key(self, key: str) -> None:
        """A storage event (the indexer function): run the deletion whose record was written queued."""
        found = layout.parse_dataset_deletion(key)
        if found is None:
            return
        deletion = self._load(*found)
        if deletion is not None and deletion["status"] == QUEUED:
            self._run(found[0], deletion, time.monotonic() + SLICE_SECONDS)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the record ---------------------------------------------------------------------------

    def _load(self, tenant: str, dataset_id: str) -> dict | None:
        try:
            return json.loads(self.blobs.get_bytes(layout.dataset_deletion(tenant, dataset_id)))
        except ObjectMissing:
            return None

    def _save(self, tenant: str, deletion: dict) -> None:
        deletion["updated_at"] = time.time()
        key = layout.dataset_deletion(tenant, deletion["dataset_id"])
        self.blobs.put_bytes(key, json.dumps(deletion).encode(), "application/json")

    def _queue(self, tenant: str, deletion: dict) -> None:
        self._save(tenant, deletion)
        if self.in_process:
            with self._lock:
                self._running.add((tenant, deletion["dataset_id"]))
            self._pool.submit(self._run_here, tenant, dict(deletion))

    def _run_here(self, tenant: str, deletion: dict) -> None:
        try:
            self._run(tenant, deletion, math.inf)
        finally:
            with self._lock:
                self._running.discard((tenant, deletion["dataset_id"]))

    def _stopped(self, tenant: str, deletion: dict) -> bool:
        """Queued or running, yet no process here runs it and its record stopped moving (a crash). On AWS a
        queued record waits for its event, and a running one writes every second."""
        with self._lock:
            here = (tenant, deletion["dataset_id"]) in self._running
        stale = time.time() - float(deletion.get("updated_at", 0)) > STALE_SECONDS
        return deletion["status"] in (QUEUED, RUNNING) and not here and stale

    # -- the work -----------------------------------------------------------------------------

    def _run(self, tenant: str, deletion: dict, deadline: float) -> None:
        dataset_id = deletion["dataset_id"]
        last = time.monotonic()
        try:
            deletion["status"] = RUNNING
            self._save(tenant, deletion)
            while deletion["cursor"]["phase"] is not None:
                self._step(tenant, dataset_id, deletion)
                if deletion["cursor"]["phase"] is None:
                    deletion.update(status=SUCCEEDED, finished_at=now_iso())
                elif time.monotonic() > deadline:
                    deletion["status"] = QUEUED  # this write's event starts the next slice
                    break
                elif time.monotonic() - last >= PROGRESS_SECONDS:
                    last = time.monotonic()
                    self._save(tenant, deletion)
        except Exception:
            log.exception("deletion of dataset %s failed", dataset_id)
            deletion.update(status=FAILED, error="storage trouble; DELETE the dataset again to resume")
        self._save(tenant, deletion)
        if deletion["status"] == SUCCEEDED:
            self.blobs.delete_many([layout.deleting_marker(tenant, dataset_id)])

    def _step(self, tenant: str, dataset_id: str, deletion: dict) -> None:
        """One page of the current phase; the cursor moves past it (to the next phase after the last page)."""
        cursor = deletion["cursor"]
        phase, after = cursor["phase"], cursor["after"]
        if phase == ITEMS:
            query = ItemQuery(dataset_id=dataset_id)
            page = self.index.search(tenant, query, PAGE, after)
            self._delete_items(tenant, dataset_id, page)
            deletion["progress"]["done"] += len(page)
            if page:
                cursor.update(after=position_of(page[-1], query))
            else:
                cursor.update(phase=OBJECTS, after=None)
        elif phase in (OBJECTS, THUMBNAILS):
            if phase == OBJECTS:
                prefix = layout.dataset_prefix(tenant, dataset_id)
            else:
                prefix = layout.thumbnails_prefix(tenant, dataset_id)
            listing = self.blobs.list_page(prefix, start_after=after, limit=PAGE * 3)
            record = layout.dataset_record(tenant, dataset_id)
            self.blobs.delete_many([o.key for o in listing.objects if o.key != record])
            if listing.next_token and listing.objects:
                cursor.update(after=listing.objects[-1].key)
            else:
                cursor.update(phase=THUMBNAILS if phase == OBJECTS else RECORD, after=None)
        else:
            self._finish(tenant, dataset_id)
            cursor.update(phase=None, after=None)

    def _delete_items(self, tenant: str, dataset_id: str, page: list) -> None:
        """A page of items: uploads under way aborted, their objects deleted, then their index entries."""
        keys = []
        for record in page:
            key = layout.item_object(tenant, dataset_id, record.item_id, record.filename)
            if record.upload_id:
                self.blobs.abort_multipart(key, record.upload_id)
            keys += [
                key,
                layout.thumbnail(tenant, dataset_id, record.item_id),
                layout.annotations_record(tenant, dataset_id, record.item_id),
            ]
        self.blobs.delete_many(keys)
        # The index forgets the items only once storage has: a storage failure above leaves them for the retry.
        # Their vectors go with the dataset's at the end (a search's neighbours are checked against the index).
        self.index.delete_many(tenant, dataset_id, [r.item_id for r in page], time.time())

    def _finish(self, tenant: str, dataset_id: str) -> None:
        """What no page reached: items indexed during the deletion, vectors, kept versions, the record."""
        for pending in self.index.delete_dataset(tenant, dataset_id):
            if pending.upload_id:
                key = layout.item_object(tenant, dataset_id, pending.item_id, pending.filename)
                self.blobs.abort_multipart(key, pending.upload_id)
        self.vectors.remove_dataset(tenant, dataset_id)
        self.blobs.release_versions(layout.dataset_prefix(tenant, dataset_id))  # those its snapshots kept
        self.blobs.delete_many([layout.dataset_record(tenant, dataset_id)])


def child_names_of_keys(blobs: BlobStore, prefix: str):
    """The names of the objects directly under `prefix`, page by page."""
    token = None
    while True:
        page = blobs.list_page(prefix, delimiter="/", token=token)
        yield from (layout.name_after(prefix, o.key) for o in page.objects)
        if not page.next_token:
            return
        token = page.next_token
