"""The BlobStore port: objects, tags, listings and pre-signed URLs, on S3 or on local disk."""

from __future__ import annotations

import contextlib
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from service.vocabulary.errors import BadRequest, Conflict, NotFound

DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1000 keys
TAG_WRITE_ATTEMPTS = 5
_KEY_LOCKS = [threading.Lock() for _ in range(64)]
T = TypeVar("T")


class ObjectMissing(NotFound):
    """The key (or multipart upload) does not exist."""


class InvalidParts(BadRequest):
    """A multipart completion named parts that were not uploaded, or with the wrong ETag."""


class PreconditionFailed(Conflict):
    """A conditional write found another version than the one it was based on."""


META_HEADER = "x-amz-meta-"  # user metadata travels in these headers (and POST fields), keys lower case


# Sent with every signed PUT: S3 then writes only where nothing is stored (the local store never overwrites).
WRITE_ONCE = {"If-None-Match": "*"}


def metadata_headers(metadata: dict | None) -> dict[str, str]:
    return {META_HEADER + k: v for k, v in (metadata or {}).items()}


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """One page of a listing; `prefixes` are the common prefixes when a delimiter was given."""

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None


class BlobStore(ABC):
    """Where objects live. Payload bytes reach it directly through the pre-signed URLs it makes."""

    name: str

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str, metadata: dict | None = None) -> str:
        """Write a small object (records, sidecars, thumbnails) atomically, with user metadata; its ETag."""

    @abstractmethod
    def put_bytes_if(self, key: str, data: bytes, content_type: str, expected_etag: str | None) -> str:
        """Write only over the version with `expected_etag` (None: only if absent); else PreconditionFailed."""

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str, metadata: dict | None = None) -> ObjectInfo:
        """Copy a local file of any size into the store (operators' imports)."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Read a whole small object; ObjectMissing when absent."""

    @abstractmethod
    def read_into(self, key: str, out: BinaryIO) -> None:
        """Copy an object of any size into `out` in order, a chunk at a time; ObjectMissing when absent."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Metadata of one object, or None when it does not exist."""

    @abstractmethod
    def delete_many(self, keys: list[str]) -> None:
        """Delete up to DELETE_BATCH keys; missing keys are not an error."""

    @abstractmethod
    def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        token: str | None = None,
        limit: int = 1000,
    ) -> Listing:
        """One page of keys under `prefix` in lexicographic order."""

    @abstractmethod
    def get_tags(self, key: str) -> dict[str, str]:
        """The object's tags; ObjectMissing when absent."""

    @abstractmethod
    def put_tags(self, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tags; ObjectMissing when absent."""

    @abstractmethod
    def presign_put(self, key: str, content_type: str, size: int, expires: int, metadata: dict | None = None) -> dict:
        """`{"method": "PUT", "url", "headers"}` for one PUT of this type with this metadata (signed headers)."""

    @abstractmethod
    def presign_post(self, key: str, content_type: str, size: int, expires: int, metadata: dict | None = None) -> dict:
        """`{"method": "POST", "url", "fields"}`: a form upload limited to `size` bytes of this type."""

    @abstractmethod
    def create_multipart(self, key: str, content_type: str, size: int, metadata: dict | None = None) -> str:
        """Start a multipart upload (the object will carry `metadata`); returns its upload id."""

    @abstractmethod
    def presign_part(self, key: str, upload_id: str, part_number: int, part_size: int, expires: int) -> str:
        """URL for one PUT of part `part_number` (at most `part_size` bytes)."""

    @abstractmethod
    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the named `(part_number, etag)` parts into the object."""

    @abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload and its parts."""

    @abstractmethod
    def presign_get(self, key: str, expires: int, filename: str | None = None, version_id: str | None = None) -> str:
        """URL for one GET of the object (of that version, when given), valid `expires` seconds."""

    @abstractmethod
    def pin_versions(self, prefix: str, entries: Iterable[tuple[str, T]], holder: str) -> Iterator[tuple[T, str]]:
        """Keep the current version of each key of `entries` (sorted, all under `prefix`) for `holder`;
        yields (payload, version id) for each key that exists, in order. Conflict when the store
        cannot keep versions."""

    @abstractmethod
    def release_versions(self, holder_prefix: str) -> None:
        """Let go of the versions kept for every holder whose name starts with `holder_prefix`."""

    @abstractmethod
    def has_version(self, key: str, version_id: str) -> bool:
        """Whether that version of the object can still be read."""

    @contextlib.contextmanager
    def key_lock(self, key: str) -> Iterator[None]:
        """Serialise writers of one key inside this process (adapters may lock wider)."""
        with _KEY_LOCKS[zlib.crc32(key.encode()) % len(_KEY_LOCKS)]:
            yield

    def update_tags(
        self,
        key: str,
        change: Callable[[dict[str, str]], dict[str, str]],
        then: Callable[[dict[str, str]], None] | None = None,
    ) -> dict[str, str]:
        """Read-modify-write of the tags with a check: the write is read back, and when another
        writer slipped in between, `change` is applied again on top of theirs. `change` may raise
        to refuse (nothing is written then). `then` gets the stored tags while the key is still
        locked, so what it records (the index) follows the order of the writes; a store that calls
        listeners of its own writes (the local one) leaves them out of a write that has `then`."""
        with self.key_lock(key):
            for _ in range(TAG_WRITE_ATTEMPTS):
                current = self.get_tags(key)
                wanted = change(dict(current))
                if wanted != current:
                    self.put_tags(key, wanted)
                    if self.get_tags(key) != wanted:
                        continue
                if then is not None:
                    then(dict(wanted))
                return wanted
        raise Conflict("the item's tags are changing too fast; try again")

    def exists(self, key: str) -> bool:
        """An object is stored at `key` (stores that can tell without reading its metadata say so cheaper)."""
        return self.head(key) is not None

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under `prefix`, page by page, never the whole listing at once."""
        token = None
        while True:
            page = self.list_page(prefix, token=token)
            yield from page.objects
            if not page.next_token:
                return
            token = page.next_token

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete any number of keys in batches; returns how many were asked for."""
        batch: list[str] = []
        count = 0
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                self.delete_many(batch)
                count += len(batch)
                batch = []
        if batch:
            self.delete_many(batch)
            count += len(batch)
        return count

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`."""
        return self.delete_keys(obj.key for obj in self.iter_objects(prefix))
