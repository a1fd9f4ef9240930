"""Richer annotations: bounding boxes in image pixels, a versioned sidecar per item."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import SearchIndex
from service.domain.datasets import Dataset
from service.domain.items import ItemService
from service.domain.labels import validate_label
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, Conflict
from service.vocabulary.roles import Principal

MAX_BOXES = 1000


def validate_boxes(dataset: Dataset, boxes: list[dict], width: int | None, height: int | None) -> list[dict]:
    if len(boxes) > MAX_BOXES:
        raise BadRequest(f"at most {MAX_BOXES} boxes per item")
    clean = []
    for n, box in enumerate(boxes):
        x, y, w, h = (box[k] for k in ("x", "y", "w", "h"))
        if not all(math.isfinite(v) for v in (x, y, w, h)) or x < 0 or y < 0 or w <= 0 or h <= 0:
            raise BadRequest(f"box {n}: x and y must be >= 0, w and h > 0")
        if width is not None and height is not None and (x + w > width or y + h > height):
            raise BadRequest(f"box {n} reaches outside the {width}x{height} image")
        label = validate_label(dataset, box["label"])
        clean.append({"label": label, "x": x, "y": y, "w": w, "h": h})
    return clean


class Annotations:
    """Optimistic concurrency: a write names the version it was based on; a stale one is a 409.
    The sidecar is written with a conditional PUT, so two writers can never both win."""

    def __init__(self, blobs: BlobStore, index: SearchIndex, items: ItemService):
        self.blobs = blobs
        self.index = index
        self.items = items

    def _read(self, key: str) -> tuple[dict, str | None]:
        # Under the writers' lock: the local store records a new etag just before the new bytes, so a
        # read between the two would pair the next version's etag with this version's body, and a
        # stale write would then pass the conditional put.
        with self.blobs.key_lock(key):
            info = self.blobs.head(key)
            if info is None:
                return {"version": 0, "boxes": [], "updated_by": None, "updated_at": None}, None
            try:
                return json.loads(self.blobs.get_bytes(key)), info.etag
            except ObjectMissing:
                return {"version": 0, "boxes": [], "updated_by": None, "updated_at": None}, None

    def get(self, tenant: str, dataset_id: str, item_id: str) -> dict:
        self.items.get(tenant, dataset_id, item_id)
        return self._read(layout.annotations_record(tenant, dataset_id, item_id))[0]

    def put(self, principal: Principal, dataset: Dataset, item_id: str, boxes: list[dict], version: int) -> dict:
        record = self.items.get(principal.tenant, dataset.id, item_id)
        boxes = validate_boxes(dataset, boxes, record.width, record.height)
        key = layout.annotations_record(principal.tenant, dataset.id, item_id)
        current, etag = self._read(key)
        if current["version"] != version:
            raise Conflict(f"annotations are at version {current['version']}, not {version}: reload and retry")
        document = {"version": version + 1, "boxes": boxes, "updated_by": principal.user, "updated_at": now_iso()}
        self.blobs.put_bytes_if(key, json.dumps(document).encode(), "application/json", etag)
        now = time.time()
        current = self.items.indexer.with_thumbnail(record)  # made off the request path since `record` was read
        self.index.upsert(replace(current, annotations=len(boxes), updated_at=now, observed_at=now))
        data = {"dataset_id": dataset.id, "item_id": item_id, "version": document["version"], "boxes": len(boxes)}
        self.items.emit(principal.tenant, "annotations.changed", data)
        return document
