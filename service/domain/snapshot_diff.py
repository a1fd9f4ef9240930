"""What changed between a snapshot and another snapshot (or the dataset now): a merge of two id-ordered streams.

Both sides stream in item id order (manifest parts, or the index a page at a time), so a diff of
two million-item snapshots holds one part of each in memory. A page stops after `limit` changed
items, or after SCAN_BUDGET compared items, so every request stays short; its cursor is the last
item id it covered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import SearchIndex
from service.domain.export import available_records, current_boxes
from service.domain.snapshots import Snapshots

CATEGORIES = ("added", "removed", "relabelled", "reannotated")
SCAN_BUDGET = 200_000
CURRENT = "current"


def changes(
    base: Iterator[dict], other: Iterator[dict], other_boxes: Callable[[dict], list]
) -> Iterator[tuple[str, list[str]]]:
    """(item id, its categories) for every item on either side, in id order: what `other` changed from `base`."""
    a, b = next(base, None), next(other, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a["id"] < b["id"]):
            yield a["id"], ["removed"]
            a = next(base, None)
        elif a is None or b["id"] < a["id"]:
            yield b["id"], ["added"]
            b = next(other, None)
        else:
            found = ["relabelled"] if a["label"] != b["label"] else []
            if a["boxes"] != other_boxes(b):
                found.append("reannotated")
            yield a["id"], found
            a, b = next(base, None), next(other, None)


def diff_page(pairs: Iterator[tuple[str, list[str]]], limit: int) -> tuple[dict, str | None]:
    """At most `limit` changed items, and the item id the next page starts after (None at the end)."""
    body: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    emitted = 0
    last = None
    for scanned, (item_id, found) in enumerate(pairs, 1):
        if found:
            if emitted == limit:
                return body, last
            for category in found:
                body[category].append(item_id)
            emitted += 1
        last = item_id
        if scanned == SCAN_BUDGET:
            return body, last
    return body, None


class SnapshotDiff:
    def __init__(self, blobs: BlobStore, index: SearchIndex, snapshots: Snapshots):
        self.blobs = blobs
        self.index = index
        self.snapshots = snapshots

    def page(self, tenant: str, snapshot: dict, against: str, limit: int, after: str | None) -> tuple[dict, str | None]:
        """What `against` (another snapshot of the dataset, or `current`) changed from `snapshot`."""
        base = self.snapshots.rows(tenant, snapshot, after)
        if against == CURRENT:
            records = available_records(self.index, tenant, snapshot["dataset_id"], after)
            other = ({"id": r.item_id, "label": r.label, "record": r} for r in records)
            pairs = changes(base, other, lambda row: current_boxes(self.blobs, row["record"]))
        else:
            target = self.snapshots.get(tenant, snapshot["dataset_id"], against)
            pairs = changes(base, self.snapshots.rows(tenant, target, after), lambda row: row["boxes"])
        return diff_page(pairs, limit)
