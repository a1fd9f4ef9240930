"""Dataset snapshots: an immutable manifest in storage naming every item's exact object version.

Taking one streams the index's available items in id order, keeps the current version of each
object (BlobStore.pin_versions: S3 versioning, or the local store's hard links), and writes the
manifest a part of PART_ITEMS rows at a time, so memory stays bounded at any size. The record
is written last: a snapshot that did not finish is never listed. Nothing is changed afterwards.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import ItemRecord, SearchIndex
from service.domain.datasets import Dataset
from service.domain.export import available_records, current_boxes, manifest
from service.domain.records import records_page
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import Gone, NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

PART_ITEMS = 10_000
MAX_NAME = 200
# What the API shows of a record; `parts` (first item id and count of each part) stays inside.
PUBLIC = ("id", "dataset_id", "name", "created_at", "created_by", "item_count", "bytes")

log = logging.getLogger("edna.snapshots")


def public(snapshot: dict) -> dict:
    return {k: snapshot[k] for k in PUBLIC}


def _batches(pairs: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(pairs, size)):
        yield batch


class Snapshots:
    def __init__(
        self,
        blobs: BlobStore,
        index: SearchIndex,
        download_ttl: int,
        on_created: list[Callable[[str, dict], None]] | None = None,
    ):
        """`on_created` are called with (tenant, public record) once a snapshot is complete."""
        self.blobs = blobs
        self.index = index
        self.download_ttl = download_ttl
        self.on_created = on_created if on_created is not None else []

    def create(self, principal: Principal, dataset: Dataset, name: str | None) -> dict:
        tenant, snapshot_id = principal.tenant, new_id()
        holder = layout.snapshot_prefix(tenant, dataset.id, snapshot_id)
        entries = (
            (layout.item_object(tenant, dataset.id, r.item_id, r.filename), r)
            for r in available_records(self.index, tenant, dataset.id)
        )
        pinned = self.blobs.pin_versions(layout.items_prefix(tenant, dataset.id), entries, holder)
        rows = (self._row(record, version) for record, version in pinned)
        parts, total_bytes = [], 0
        try:
            for batch in _batches(rows, PART_ITEMS):
                lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch)
                key = layout.snapshot_part(tenant, dataset.id, snapshot_id, len(parts))
                self.blobs.put_bytes(key, lines.encode(), "application/x-ndjson")
                parts.append({"first": batch[0]["id"], "count": len(batch)})
                total_bytes += sum(row["size"] for row in batch)
            snapshot = {
                "id": snapshot_id,
                "dataset_id": dataset.id,
                "name": name or f"{dataset.name} {now_iso()[:19]}",
                "created_at": now_iso(),
                "created_by": principal.user,
                "item_count": sum(p["count"] for p in parts),
                "bytes": total_bytes,
                "parts": parts,
            }
            record = layout.snapshot_record(tenant, dataset.id, snapshot_id)
            self.blobs.put_bytes(record, json.dumps(snapshot, ensure_ascii=False).encode(), "application/json")
        except BaseException:
            self.blobs.delete_prefix(holder)  # what was written of it, and the versions it kept
            self.blobs.release_versions(holder)
            raise
        for hook in self.on_created:
            try:
                hook(tenant, public(snapshot))
            except Exception:
                log.exception("snapshot %s: an on_created hook failed", snapshot_id)  # the snapshot stands
        return snapshot

    def _row(self, record: ItemRecord, version: str) -> dict:
        checksum = {"sha256": record.sha256} if record.sha256 else {}
        return {
            **checksum,
            "id": record.item_id,
            "filename": record.filename,
            "content_type": record.content_type,
            "size": record.size,
            "label": record.label,
            "tags": record.tags,
            "boxes": current_boxes(self.blobs, record),
            "width": record.width,
            "height": record.height,
            "version": version,
        }

    def get(self, tenant: str, dataset_id: str, snapshot_id: str) -> dict:
        if not is_id(snapshot_id):
            raise NotFound("snapshot not found")
        try:
            return json.loads(self.blobs.get_bytes(layout.snapshot_record(tenant, dataset_id, snapshot_id)))
        except ObjectMissing:
            raise NotFound("snapshot not found") from None

    def list(self, tenant: str, dataset_id: str, limit: int, after: str | None) -> tuple[list[dict], str | None]:
        """One page of the dataset's snapshots, oldest first; the second value is the last id when more follow."""
        prefix = layout.snapshots_prefix(tenant, dataset_id)
        return records_page(self.blobs, prefix, after, limit, lambda s: self.get(tenant, dataset_id, s))

    def delete(self, tenant: str, dataset_id: str, snapshot_id: str) -> None:
        """The record first (the snapshot is gone at once), then its parts and the versions it kept."""
        self.get(tenant, dataset_id, snapshot_id)
        holder = layout.snapshot_prefix(tenant, dataset_id, snapshot_id)
        self.blobs.delete_many([layout.snapshot_record(tenant, dataset_id, snapshot_id)])
        self.blobs.delete_prefix(holder)
        self.blobs.release_versions(holder)

    def rows(self, tenant: str, snapshot: dict, after: str | None = None) -> Iterator[dict]:
        """The manifest's rows in item id order, after the id `after`: one part in memory at a time."""
        start = max(_part_of(snapshot, after), 0) if after else 0
        for number in range(start, len(snapshot["parts"])):
            for row in self._part(tenant, snapshot, number):
                if after is None or row["id"] > after:
                    yield row

    def _part(self, tenant: str, snapshot: dict, number: int) -> list[dict]:
        key = layout.snapshot_part(tenant, snapshot["dataset_id"], snapshot["id"], number)
        return [json.loads(line) for line in self.blobs.get_bytes(key).splitlines()]

    def page(self, tenant: str, snapshot: dict, limit: int, after: str | None) -> tuple[list[dict], str | None]:
        rows = list(islice(self.rows(tenant, snapshot, after), limit + 1))
        more = len(rows) > limit
        return rows[:limit], (rows[limit - 1]["id"] if more else None)

    def row(self, tenant: str, snapshot: dict, item_id: str) -> dict:
        number = _part_of(snapshot, item_id) if is_id(item_id) else -1
        found = [row for row in self._part(tenant, snapshot, number) if row["id"] == item_id] if number >= 0 else []
        if not found:
            raise NotFound("the snapshot holds no such item")
        return found[0]

    def url(self, tenant: str, snapshot: dict, row: dict) -> str:
        """A signed GET of the exact version the snapshot kept."""
        key = layout.item_object(tenant, snapshot["dataset_id"], row["id"], row["filename"])
        return self.blobs.presign_get(key, self.download_ttl, row["filename"], row["version"])

    def download_url(self, tenant: str, snapshot: dict, item_id: str) -> str:
        row = self.row(tenant, snapshot, item_id)
        key = layout.item_object(tenant, snapshot["dataset_id"], row["id"], row["filename"])
        if not self.blobs.has_version(key, row["version"]):
            raise Gone(
                "storage no longer keeps this version of the item (the bucket's lifecycle rule expired it); "
                "the snapshot's other items and its labels are unaffected"
            )
        return self.url(tenant, snapshot, row)

    def export(self, tenant: str, dataset: Dataset, snapshot: dict, fmt: str) -> Iterator[str]:
        """The dataset export's formats, from the manifest: its labels and boxes, URLs of its versions."""
        return manifest(dataset, self._export_rows(tenant, snapshot), fmt)

    def _export_rows(self, tenant: str, snapshot: dict) -> Iterable[dict]:
        for row in self.rows(tenant, snapshot):
            yield {
                "item_id": row["id"],
                "filename": row["filename"],
                "label": row["label"],
                "url": self.url(tenant, snapshot, row),
                "content_type": row["content_type"],
                "size": row["size"],
                "tags": row["tags"],
                "boxes": row["boxes"],
                "width": row["width"],
                "height": row["height"],
            }


def _part_of(snapshot: dict, item_id: str) -> int:
    """The number of the part that holds `item_id` if any part does; -1 when it sorts before them all."""
    return bisect_right([p["first"] for p in snapshot["parts"]], item_id) - 1
