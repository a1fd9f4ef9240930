"""The Indexer: reads an item's state from storage and writes it to the index.

The one path from storage to index, used by storage events, `complete`, labeling and rebuilds.
It reads the current state instead of trusting an event's content, so a replayed or late event
converges; `observed_at` keeps a slower reader from overwriting a newer observation.

Thumbnails are never made on that path: a new version of an image is indexed at once without one
and queued; the thumbnail worker (`make_thumbnail`) writes the thumbnail object, then refreshes the
item like any event would, so its observation is the newest and includes the thumbnail.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import NamedTuple
from urllib.parse import unquote

from service.adapters.blobstore import BlobStore, ObjectInfo, ObjectMissing
from service.adapters.searchindex import AVAILABLE, PENDING, ItemRecord, SearchIndex
from service.adapters.thumbnailqueue import ThumbnailQueue
from service.domain.notifications import Emit, nobody
from service.domain.thumbnails import MAX_SOURCE_BYTES, make_thumbnail, refusal
from service.settings import Config
from service.vocabulary import layout

STORAGE_USER = "storage"  # created_by of items that reached storage without an upload request


class Indexer:
    """`thumbnails` None makes them in the caller's thread: for tools, tests and an indexer Lambda
    without a thumbnails queue, never for a server answering requests."""

    def __init__(
        self,
        blobs: BlobStore,
        index: SearchIndex,
        thumbnails: ThumbnailQueue | None = None,
        max_pixels: int = Config.max_image_pixels,
        emit: Emit = nobody,
    ):
        self.emit = emit  # webhooks: item.available
        self.blobs = blobs
        self.index = index
        self.thumbnails = thumbnails
        self.max_pixels = max_pixels

    def refresh_key(self, key: str, retry_thumbnail: bool = False) -> ItemRecord | None:
        """Index whatever item `key` belongs to (object or annotations); other keys are ignored,
        but for a model file that arrived for a deleted model (a replayed upload URL): it goes."""
        item = layout.parse_item(key)
        if item is None:
            self._discard_orphan_model(key)
            return None
        if not item.filename:  # an annotation sidecar: refresh the item it annotates
            record = self.index.get(item.tenant, item.dataset_id, item.item_id)
            if record is None:
                return None
            return self.refresh(replace(item, filename=record.filename), recount_annotations=True)
        return self.refresh(item, retry_thumbnail=retry_thumbnail)

    def refresh(
        self,
        item: layout.ItemKey,
        created_by: str | None = None,
        recount_annotations: bool = False,
        retry_thumbnail: bool = False,
    ) -> ItemRecord | None:
        """The item's current state in storage, now in the index (a tombstone if it is gone).

        Only a version new to the index queues its thumbnail; `retry_thumbnail` (rebuilds) queues a missing one.
        """
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
        arriving = existing is None or existing.status != AVAILABLE or existing.etag != info.etag
        if arriving and self.gone(item):
            # A replayed grant (or a late copy) for a deleted item or dataset: the object goes, never the index.
            self.blobs.delete_many([item.object_key, layout.thumbnail(item.tenant, item.dataset_id, item.item_id)])
            self.index.delete(item.tenant, item.dataset_id, item.item_id, observed_at)
            return None
        queued: list[str] = []
        record = self._record(item, info, tags, existing, observed_at, created_by, retry_thumbnail, queued)
        if recount_annotations or existing is None:
            record = replace(record, annotations=self._annotation_count(item))
        self.index.upsert(record)
        for key in queued:  # after the upsert: the worker's own refresh must find the item as this one left it
            self.thumbnails.submit(key)
        if existing is not None and existing.status == PENDING and record.status == AVAILABLE:
            # An upload arrived: `complete` and the storage event may both see it; the key makes one event of it.
            data = {"dataset_id": item.dataset_id, "item_id": item.item_id, "filename": item.filename}
            self.emit(item.tenant, "item.available", data, key=f"item-{item.item_id}")
        return record

    def _discard_orphan_model(self, key: str) -> None:
        model = layout.parse_model_file(key)
        if model and self.blobs.head(layout.model_spec(*model)) is None and self.blobs.head(key) is not None:
            self.blobs.delete_many([key])

    def gone(self, item: layout.ItemKey) -> bool:
        """Storage says the item was deleted (its tombstone) or its dataset is (no record, or marked deleting)."""
        if self.blobs.exists(layout.item_tombstone(item.tenant, item.dataset_id, item.item_id)):
            return True
        try:
            record = json.loads(self.blobs.get_bytes(layout.dataset_record(item.tenant, item.dataset_id)))
        except ObjectMissing:
            return True
        return bool(record.get("deleting"))

    def _record(
        self,
        item: layout.ItemKey,
        info: ObjectInfo,
        tags: dict[str, str],
        existing: ItemRecord | None,
        observed_at: float,
        created_by: str | None,
        retry_thumbnail: bool,
        queued: list[str],
    ) -> ItemRecord:
        label = tags.pop(layout.LABEL_TAG, None)
        label_source = tags.pop(layout.LABEL_SOURCE_TAG, None)
        status = AVAILABLE
        if existing and existing.status == PENDING and existing.size != info.size:
            status = PENDING  # not what was announced: `complete` will say so
        known = existing is not None and existing.etag == info.etag and existing.status == AVAILABLE
        if known and (existing.thumbnail or existing.preview_refused or not _is_image(info)):
            preview = Preview(existing.width, existing.height, existing.thumbnail, existing.preview_refused)
        else:  # one HEAD finds a thumbnail made (or refused) since; only a version new to the index queues one
            preview = self._preview(item, info, retry_thumbnail or not known, queued)
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
            label_source=label_source,
            sha256=info.metadata.get("sha256") or None,
            tags=tags,
            etag=info.etag,
            upload_id=base.upload_id if status == PENDING else "",
            updated_at=observed_at,
            width=preview.width,
            height=preview.height,
            thumbnail=preview.thumbnail,
            preview_refused=preview.refused,
            observed_at=observed_at,
        )

    def _preview(self, item: layout.ItemKey, info: ObjectInfo, queue: bool, queued: list[str]) -> Preview:
        """The thumbnail (or refusal) of this very version, else none yet (its key added to `queued` if
        `queue`, for the caller to submit once the index holds the item)."""
        if not _is_image(info):
            return NO_PREVIEW  # not even a look for one (most events of non-images)
        made = self._made(item, info)
        if made or not queue:
            return made or NO_PREVIEW
        if self.thumbnails is None:
            return self._make(item, info) or NO_PREVIEW
        queued.append(item.object_key)
        return NO_PREVIEW

    def make_thumbnail(self, key: str) -> None:
        """The thumbnail worker: make the item's thumbnail if it has none for its version, then re-index it."""
        item = layout.parse_item(key)
        if item is None or not item.filename:
            return
        info = self.blobs.head(item.object_key)
        if info is None or not _is_image(info) or self.gone(item):
            return  # deleted since it was queued (the indexer removes what arrives for a deleted item)
        if self._made(item, info) is None and self._make(item, info) is None:
            return  # gone while it was read
        self.refresh(item)  # observed after the thumbnail was written: no earlier reader can hide it

    def with_thumbnail(self, record: ItemRecord) -> ItemRecord:
        """`record` plus a thumbnail made for its version since it was read: for writers that upsert a
        record they read earlier (labels, annotations), so they never hide what the worker just added.
        Call it after taking the new `observed_at`: a thumbnail written later is indexed by a later refresh."""
        if record.thumbnail or not record.content_type.startswith("image/"):
            return record
        made = self._thumbnail_of(record.tenant, record.dataset_id, record.item_id, record.etag)
        if made is None:
            return record
        return replace(
            record, width=made.width, height=made.height, thumbnail=made.thumbnail, preview_refused=made.refused
        )

    def _made(self, item: layout.ItemKey, info: ObjectInfo) -> Preview | None:
        return self._thumbnail_of(item.tenant, item.dataset_id, item.item_id, info.etag)

    def _thumbnail_of(self, tenant: str, dataset_id: str, item_id: str, etag: str) -> Preview | None:
        made = self.blobs.head(layout.thumbnail(tenant, dataset_id, item_id))
        if not made or made.metadata.get("source-etag") != etag:
            return None
        width, height = (int(made.metadata[side]) if made.metadata.get(side) else None for side in ("width", "height"))
        refused = made.metadata.get("refused")
        return Preview(width, height, not refused, refused or None)

    def _make(self, item: layout.ItemKey, info: ObjectInfo) -> Preview | None:
        """Make this version's thumbnail, or record why none can be made (an empty object saying so):
        people then see the reason, and no later event tries again. None when the item is gone."""
        try:
            data = self.blobs.get_bytes(item.object_key)
        except ObjectMissing:
            return None
        key = layout.thumbnail(item.tenant, item.dataset_id, item.item_id)
        thumb = make_thumbnail(data, self.max_pixels)
        if thumb is None:
            reason, width, height = refusal(data, self.max_pixels)
            sides = {"width": str(width), "height": str(height)} if width and height else {}
            marker = {"source-etag": info.etag, "refused": reason, **sides}
            self.blobs.put_bytes(key, b"", "application/octet-stream", marker)
            return Preview(width, height, False, reason)
        metadata = {"width": str(thumb.width), "height": str(thumb.height), "source-etag": info.etag}
        self.blobs.put_bytes(key, thumb.webp, "image/webp", metadata)
        return Preview(thumb.width, thumb.height, True)

    def _annotation_count(self, item: layout.ItemKey) -> int:
        try:
            data = self.blobs.get_bytes(layout.annotations_record(item.tenant, item.dataset_id, item.item_id))
        except ObjectMissing:
            return 0
        return len(json.loads(data).get("boxes", []))


class Preview(NamedTuple):
    """What an item's preview is: its image's size and thumbnail, or why it has none."""

    width: int | None
    height: int | None
    thumbnail: bool
    refused: str | None = None  # thumbnails.TOO_MANY_PIXELS or UNREADABLE


NO_PREVIEW = Preview(None, None, False)


def _is_image(info: ObjectInfo) -> bool:
    """Worth a thumbnail: an image type, small enough to fetch (its pixels are checked when decoded)."""
    return (info.content_type or "").startswith("image/") and info.size <= MAX_SOURCE_BYTES
