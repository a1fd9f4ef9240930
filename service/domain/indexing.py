"""The Indexer: reads an item's state from storage and writes it to the index.

The one path from storage to index, used by storage events, `complete`, labeling and rebuilds.
It reads the current state instead of trusting an event's content, so a replayed or late event
converges; `observed_at` keeps a slower reader from overwriting a newer observation.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from urllib.parse import unquote

from service.adapters.blobstore import BlobStore, ObjectInfo, ObjectMissing
from service.adapters.searchindex import AVAILABLE, PENDING, ItemRecord, SearchIndex
from service.domain import layout
from service.domain.thumbnails import MAX_SOURCE_BYTES, make_thumbnail

LABEL_TAG = "label"
STORAGE_USER = "storage"  # created_by of items that reached storage without an upload request


class Indexer:
    def __init__(self, blobs: BlobStore, index: SearchIndex):
        self.blobs = blobs
        self.index = index

    def refresh_key(self, key: str) -> ItemRecord | None:
        """Index whatever item `key` belongs to (object or annotations); other keys are ignored."""
        item = layout.parse_item(key)
        if item is None:
            return None
        if not item.filename:  # an annotation sidecar: refresh the item it annotates
            record = self.index.get(item.tenant, item.dataset_id, item.item_id)
            if record is None:
                return None
            return self.refresh(replace(item, filename=record.filename), recount_annotations=True)
        return self.refresh(item)

    def refresh(
        self, item: layout.ItemKey, created_by: str | None = None, recount_annotations: bool = False
    ) -> ItemRecord | None:
        """The item's current state in storage, now in the index (a tombstone if it is gone)."""
        observed_at = time.time()
        info = self.blobs.head(item.object_key)
        try:
            tags = self.blobs.get_tags(item.object_key) if info else {}
        except ObjectMissing:
            info = None
        if info is None:
            existing = self.index.get(item.tenant, item.dataset_id, item.item_id)
            if existing is None or existing.status != PENDING:  # a pending upload has no object yet
                self.index.delete(item.tenant, item.dataset_id, item.item_id, observed_at)
            return None
        existing = self.index.get(item.tenant, item.dataset_id, item.item_id)
        record = self._record(item, info, tags, existing, observed_at, created_by)
        if recount_annotations or existing is None:
            record = replace(record, annotations=self._annotation_count(item))
        self.index.upsert(record)
        return record

    def _record(
        self,
        item: layout.ItemKey,
        info: ObjectInfo,
        tags: dict[str, str],
        existing: ItemRecord | None,
        observed_at: float,
        created_by: str | None,
    ) -> ItemRecord:
        label = tags.pop(LABEL_TAG, None)
        status = AVAILABLE
        if existing and existing.status == PENDING and existing.size != info.size:
            status = PENDING  # not what was announced: `complete` will say so
        if existing and existing.etag == info.etag and existing.status == AVAILABLE:
            width, height, thumbnail = existing.width, existing.height, existing.thumbnail
        else:
            width, height, thumbnail = self._preview(item, info)
        base = existing or ItemRecord(
            tenant=item.tenant,
            dataset_id=item.dataset_id,
            item_id=item.item_id,
            filename=item.filename,
            content_type="",
            size=0,
            status=status,
            created_at=float(info.metadata.get("created-at") or info.last_modified.timestamp()),
            created_by=unquote(info.metadata.get("created-by", "")) or created_by or STORAGE_USER,
        )
        return replace(
            base,
            filename=item.filename,
            content_type=info.content_type or base.content_type or "application/octet-stream",
            size=info.size if status == AVAILABLE else base.size,  # pending keeps what was announced
            status=status,
            label=label,
            tags=tags,
            etag=info.etag,
            upload_id=base.upload_id if status == PENDING else "",
            updated_at=observed_at,
            width=width,
            height=height,
            thumbnail=thumbnail,
            observed_at=observed_at,
        )

    def _preview(self, item: layout.ItemKey, info: ObjectInfo) -> tuple[int | None, int | None, bool]:
        """(width, height, has thumbnail): reuse a thumbnail of this very version, else make one."""
        if not (info.content_type or "").startswith("image/") or info.size > MAX_SOURCE_BYTES:
            return None, None, False  # no preview: not even a look for one (most events of non-images)
        key = layout.thumbnail(item.tenant, item.dataset_id, item.item_id)
        made = self.blobs.head(key)
        if made and made.metadata.get("source-etag") == info.etag:
            return int(made.metadata["width"]), int(made.metadata["height"]), True
        try:
            thumb = make_thumbnail(self.blobs.get_bytes(item.object_key))
        except ObjectMissing:
            return None, None, False
        if thumb is None:
            return None, None, False
        metadata = {"width": str(thumb.width), "height": str(thumb.height), "source-etag": info.etag}
        self.blobs.put_bytes(key, thumb.webp, "image/webp", metadata)
        return thumb.width, thumb.height, True

    def _annotation_count(self, item: layout.ItemKey) -> int:
        try:
            data = self.blobs.get_bytes(layout.annotations_record(item.tenant, item.dataset_id, item.item_id))
        except ObjectMissing:
            return 0
        return len(json.loads(data).get("boxes", []))
