"""The engine's Storage protocol over the service's BlobStore, so the local runner streams from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.vocabulary import layout


@dataclass(frozen=True)
class StoreAddress:
    """Where the blob store is, and nothing more: what a job process is handed instead of the Config,
    whose data dir also holds the signing keys and the databases."""

    kind: str  # "local" or "s3"
    root: str = ""  # local: the blobs directory
    bucket: str = ""
    endpoint_url: str = ""

    def open(self) -> BlobStore:
        if self.kind == "s3":
            from service.adapters.blobstore.s3 import S3BlobStore

            return S3BlobStore(self.bucket, endpoint_url=self.endpoint_url or None)
        from service.adapters.blobstore.local import LocalBlobStore

        return LocalBlobStore(Path(self.root))


class BlobStoreStorage:
    """edna_engine.storage.Storage on a LocalBlobStore or S3BlobStore."""

    def __init__(self, blobs: BlobStore):
        self.blobs = blobs

    def list_page(
        self, prefix: str, start_after: str | None = None, token: str | None = None, limit: int = 1000
    ) -> tuple[list[str], str | None]:
        page = self.blobs.list_page(prefix, start_after=start_after, token=token, limit=limit)
        return [o.key for o in page.objects], page.next_token

    def get(self, key: str) -> bytes:
        try:
            return self.blobs.get_bytes(key)
        except ObjectMissing:
            raise KeyError(key) from None  # the engine's (and Python's) "no such key"

    def put(self, key: str, data: bytes) -> None:
        self.blobs.put_bytes(key, data, "application/json" if key.endswith(".json") else "application/octet-stream")

    def exists(self, key: str) -> bool:
        return self.blobs.head(key) is not None

    def label(self, key: str) -> str | None:
        try:
            return self.blobs.get_tags(key).get(layout.LABEL_TAG)
        except ObjectMissing:
            return None
