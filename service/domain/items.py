"""Items: upload requests signed for direct transfer, confirmation against storage, reads, deletes."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, replace
from urllib.parse import quote

from service.adapters.blobstore import BlobStore, ObjectMissing, PreconditionFailed
from service.adapters.searchindex import (
    AVAILABLE,
    PENDING,
    PREDICTION_SORTS,
    SORTS,
    ItemQuery,
    ItemRecord,
    SearchIndex,
    parse_position,
    position_of,
)
from service.adapters.vectorindex import VectorIndex
from service.domain.datasets import Dataset
from service.domain.indexing import Indexer
from service.domain.notifications import Emit, nobody
from service.domain.thumbnails import preview_note
from service.domain.timestamps import iso
from service.settings import Config
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest, Conflict, NotFound, TooLarge, Unprocessable
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

MAX_PARTS = 10_000  # S3's limit on parts per multipart upload


@dataclass(frozen=True)
class UploadLimits:
    multipart_threshold: int
    part_size: int
    max_bytes: int
    upload_ttl: int
    download_ttl: int

    @classmethod
    def of(cls, config: Config) -> UploadLimits:
        return cls(
            multipart_threshold=config.multipart_threshold,
            part_size=config.multipart_part_size,
            max_bytes=config.max_upload_bytes,
            upload_ttl=config.upload_url_ttl_seconds,
            download_ttl=config.download_url_ttl_seconds,
        )


def part_size_for(size: int, minimum: int) -> int:
    """The smallest part size >= `minimum` (whole MiB) that fits `size` in MAX_PARTS parts."""
    mib = 1024 * 1024
    needed = math.ceil(size / MAX_PARTS)
    return max(minimum, math.ceil(needed / mib) * mib)


def check_size(limits: UploadLimits, size: int) -> None:
    if size < 1:
        raise BadRequest("size must be at least 1 byte")
    if size > limits.max_bytes:
        raise TooLarge(f"size {size} is above the largest upload allowed ({limits.max_bytes} bytes)")


def sign_upload(
    blobs: BlobStore, limits: UploadLimits, key: str, content_type: str, size: int, method: str, metadata: dict
) -> tuple[dict, str]:
    """The `upload` object for a direct transfer (and the multipart upload id, or "")."""
    check_size(limits, size)
    ttl = limits.upload_ttl
    if size > limits.multipart_threshold:
        part_size = part_size_for(size, limits.part_size)
        upload_id = blobs.create_multipart(key, content_type, size, metadata)
        parts = [
            {"part_number": n, "url": blobs.presign_part(key, upload_id, n, part_size, ttl)}
            for n in range(1, math.ceil(size / part_size) + 1)
        ]
        return {"method": "MULTIPART", "upload_id": upload_id, "part_size": part_size, "parts": parts}, upload_id
    if method == "POST":
        return blobs.presign_post(key, content_type, size, ttl, metadata), ""
    return blobs.presign_put(key, content_type, size, ttl, metadata), ""


def check_query(query: ItemQuery) -> None:
    """A listing's model filters and sorts name the model whose predictions they read."""
    if query.sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(s for s in SORTS if s != 'id')}")
    needs_model = query.predicted is not None or query.disagrees or query.sort in PREDICTION_SORTS
    needs_model = needs_model or query.min_score is not None or query.max_score is not None
    if needs_model and query.model_id is None:
        raise BadRequest("predicted, disagrees, min_score, max_score and sorting by score or margin need model=")
    if query.min_score is not None and query.max_score is not None and query.min_score > query.max_score:
        raise BadRequest("min_score is above max_score")


def source_view(source: str | None) -> dict | None:
    """`{"kind": "person" | "model", "by"}` of a stored label source; None when unknown (older labels)."""
    kind, _, by = (source or "").partition(":")
    return {"kind": kind, "by": by} if kind in ("person", "model") and by else None


def provenance(user: str, created_at: float) -> dict[str, str]:
    """Who made an item and when, kept as object metadata so a rebuilt index knows it too."""
    return {"created-by": quote(user, safe="@.+-_"), "created-at": f"{created_at:.3f}"}


class ItemService:
    """Every call is scoped to the caller's tenant and a dataset the caller can see."""

    def __init__(
        self,
        blobs: BlobStore,
        index: SearchIndex,
        indexer: Indexer,
        limits: UploadLimits,
        vectors: VectorIndex,
        emit: Emit = nobody,
    ):
        self.emit = emit  # webhooks: item.deleted here; labels and annotations use it too
        self.blobs = blobs
        self.index = index
        self.indexer = indexer
        self.limits = limits
        self.vectors = vectors

    def _key(self, record: ItemRecord) -> str:
        return layout.item_object(record.tenant, record.dataset_id, record.item_id, record.filename)

    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord:
        record = self.index.get(tenant, dataset_id, item_id) if is_id(item_id) else None
        if record is None:
            raise NotFound("item not found")
        return record

    def list(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> tuple[list[ItemRecord], str | None]:
        """One page in the query's order, and the position after it when more follow."""
        check_query(query)
        if after is not None:
            try:
                parse_position(query, after)
            except (ValueError, TypeError):
                raise BadRequest("cursor is malformed or from another sort; pass this listing's next_cursor") from None
        records = self.index.search(tenant, query, limit + 1, after)
        more = len(records) > limit
        records = records[:limit]
        return records, (position_of(records[-1], query) if more else None)

    def count(self, tenant: str, query: ItemQuery) -> int:
        """How many items match the query's filters, exactly."""
        check_query(query)
        return self.index.count(tenant, query)

    def request_upload(
        self,
        principal: Principal,
        dataset: Dataset,
        filename: str,
        content_type: str,
        size: int,
        method: str = "PUT",
        sha256: str | None = None,
    ) -> tuple[ItemRecord, dict]:
        """Record a pending item and sign the transfer: PUT, POST policy, or multipart above the threshold.
        An announced sha256 is signed into the upload as object metadata, so a rebuilt index knows it too."""
        record, upload = self.prepare_upload(principal, dataset, filename, content_type, size, method, sha256)
        self.index.upsert(record)
        return record, upload

    def prepare_upload(
        self,
        principal: Principal,
        dataset: Dataset,
        filename: str,
        content_type: str,
        size: int,
        method: str = "PUT",
        sha256: str | None = None,
    ) -> tuple[ItemRecord, dict]:
        """The pending item and its signed transfer, not yet indexed: the caller indexes it (or a batch of them)."""
        filename = names.filename(filename)
        content_type = names.content_type(content_type)
        now = round(time.time(), 3)  # milliseconds, exactly as the object metadata keeps it
        record = ItemRecord(
            tenant=principal.tenant,
            dataset_id=dataset.id,
            item_id=new_id(),
            filename=filename,
            content_type=content_type,
            size=size,
            status=PENDING,
            created_at=now,
            created_by=principal.user,
            updated_at=now,
            sha256=sha256,
        )
        metadata = provenance(principal.user, now) | ({"sha256": sha256} if sha256 else {})
        key = self._key(record)
        upload, upload_id = sign_upload(self.blobs, self.limits, key, content_type, size, method, metadata)
        return replace(record, upload_id=upload_id), upload

    def first_completion(self, record: ItemRecord) -> bool:
        """True for the first complete of an upload only: a repeated complete is not a second upload. The
        item's status cannot tell, as the storage event may make it available before its first complete."""
        receipt = layout.upload_receipt(record.tenant, record.dataset_id, record.item_id)
        try:
            self.blobs.put_bytes_if(receipt, b"", "application/octet-stream", None)
        except PreconditionFailed:
            return False
        return True

    def complete(self, tenant: str, dataset_id: str, item_id: str, parts: list[tuple[int, str]] | None) -> ItemRecord:
        """Confirm an upload: the object must exist with the announced size and type."""
        record = self.get(tenant, dataset_id, item_id)
        if record.sha256 and record.status == AVAILABLE:
            self._check_sha256(record)  # the embedded store's event may have made it available already
        if record.status == AVAILABLE:
            return record  # completing twice is harmless
        key = self._key(record)
        if record.upload_id:
            if not parts:
                raise BadRequest("a multipart upload needs its parts: [{part_number, etag}, ...]")
            try:
                self.blobs.complete_multipart(key, record.upload_id, parts)
            except (ObjectMissing, PreconditionFailed):
                # Completed by an earlier attempt whose confirmation was lost, or aborted/expired.
                if self.blobs.head(key) is None:
                    raise Conflict("the multipart upload is gone (aborted or expired); request a new upload") from None
        elif parts:
            raise BadRequest("parts are only for multipart uploads")
        info = self.blobs.head(key)
        if info is None:
            raise Conflict("the file is not in storage yet; upload it to the signed URL, then complete")
        if info.size != record.size:
            raise Unprocessable(f"the stored file has {info.size} bytes, but {record.size} were announced")
        if info.content_type and info.content_type != record.content_type:
            raise Unprocessable(f"the stored file is {info.content_type}, but {record.content_type} was announced")
        if record.sha256:
            self._check_sha256(record)
        # Indexed now, not only when the storage event arrives: the API reads its own writes.
        item = layout.ItemKey(tenant, dataset_id, item_id, record.filename)
        refreshed = self.indexer.refresh(item)
        if refreshed is None and self.indexer.gone(item):
            raise NotFound("item not found")
        if refreshed is None or refreshed.status != AVAILABLE:
            raise Conflict("the file changed while it was being confirmed; complete again")
        return refreshed

    def _check_sha256(self, record: ItemRecord) -> None:
        """Refuse (and delete) an item whose stored bytes differ from the sha256 announced for it.

        Only the embedded store lends its file, which makes hashing cheap. On S3 the object is not read
        back: its sha256 is the metadata signed into the upload, i.e. the uploader's claim, trusted as is.
        """
        opener = getattr(self.blobs, "open", None)
        if opener is None:
            return
        try:
            path, _ = opener(self._key(record))
        except ObjectMissing:
            return  # nothing stored yet: `complete` says so
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
        if digest.hexdigest() != record.sha256:
            # Write-once upload URLs cannot replace the bytes: the item goes, so a new upload can take its place.
            self.delete(record.tenant, record.dataset_id, record.item_id)
            raise Conflict(
                f"the stored file's sha256 is {digest.hexdigest()}, but {record.sha256} was announced;"
                " the item was deleted: upload the file again"
            )

    def delete(self, tenant: str, dataset_id: str, item_id: str) -> None:
        record = self.get(tenant, dataset_id, item_id)
        key = self._key(record)
        # The tombstone first: an upload URL replayed from now on brings nothing back (Indexer.gone).
        tombstone = json.dumps({"deleted_at": time.time()}).encode()
        self.blobs.put_bytes(layout.item_tombstone(tenant, dataset_id, item_id), tombstone, "application/json")
        if record.upload_id:
            self.blobs.abort_multipart(key, record.upload_id)
        self.blobs.delete_prefix(layout.item_prefix(tenant, dataset_id, item_id))
        self.blobs.delete_many(
            [layout.thumbnail(tenant, dataset_id, item_id), layout.annotations_record(tenant, dataset_id, item_id)]
        )
        self.index.delete(tenant, dataset_id, item_id, time.time())
        self.vectors.remove_items(tenant, dataset_id, [item_id])
        self.emit(tenant, "item.deleted", {"dataset_id": dataset_id, "item_id": item_id})

    def download_url(self, record: ItemRecord) -> str:
        if record.status != AVAILABLE:
            raise Conflict("the item's upload has not been completed")
        return self.blobs.presign_get(self._key(record), self.limits.download_ttl, record.filename)

    def describe(self, record: ItemRecord) -> dict:
        """The item as the API shows it."""
        available = record.status == AVAILABLE
        return {
            "id": record.item_id,
            "dataset_id": record.dataset_id,
            "filename": record.filename,
            "content_type": record.content_type,
            "size": record.size,
            "status": record.status,
            "label": record.label,
            "tags": record.tags,
            "created_at": iso(record.created_at),
            "created_by": record.created_by,
            "updated_at": iso(record.updated_at),
            "download_url": self.download_url(record) if available else None,
            **self.preview(record),
            "annotations": record.annotations,
            "label_source": source_view(record.label_source),
            "sha256": record.sha256,
            "predictions": [
                {
                    "model_id": p.model_id,
                    "job_id": p.job_id,
                    "predicted": p.predicted,
                    "score": p.score,
                    "margin": p.margin,
                    "top": p.probs,
                }
                for p in record.predictions
            ],
        }

    def preview(self, record: ItemRecord) -> dict:
        """`thumbnail_url` and `preview`, or null ones and `preview_note` saying why there is none."""
        if not record.thumbnail:
            note = preview_note(
                record.content_type,
                record.size,
                record.status == PENDING,
                record.preview_refused,
                record.width,
                record.height,
            )
            return {"thumbnail_url": None, "preview": None, "preview_note": note}
        key = layout.thumbnail(record.tenant, record.dataset_id, record.item_id)
        url = self.blobs.presign_get(key, self.limits.download_ttl)
        preview = {"thumbnail_url": url, "width": record.width, "height": record.height}
        return {"thumbnail_url": url, "preview": preview, "preview_note": None}
