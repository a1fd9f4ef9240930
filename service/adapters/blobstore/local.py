"""LocalBlobStore: objects as files under the data dir, S3 semantics, URLs served by the app."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from service.adapters.blobstore import (
    WRITE_ONCE,
    BlobStore,
    ObjectInfo,
    ObjectMissing,
    PreconditionFailed,
    metadata_headers,
)
from service.adapters.blobstore.local_linked import guessed_type, linked_etag
from service.adapters.blobstore.local_listing import LocalListing
from service.adapters.blobstore.local_multipart import CHUNK, LocalMultipart
from service.adapters.blobstore.local_versions import LocalVersions
from service.adapters.blobstore.signed_urls import Grant, UrlSigner
from service.adapters.blobstore.spent_grants import SpentGrants
from service.adapters.files import disk_errors, write_atomic
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, Forbidden
from service.vocabulary.ids import new_id

LOCK_STRIPES = 64
MAX_NAME_BYTES = 255  # a file name on Linux and macOS file systems


class LocalBlobStore(LocalListing, LocalMultipart, LocalVersions, BlobStore):
    """Keys map to files under `objects/`; content type, ETag and tags live in `meta/` sidecars.

    Unlike S3, a key cannot be both an object and the prefix of another (`a` and `a/b`); the
    storage layout never asks for that.

    Writes go to `tmp/` and are renamed into place, so a reader or a crash never sees half an
    object. Pre-signed URLs point at `url_prefix` (the app's `/api/blobs/`), signed by UrlSigner.
    After each write, delete or tagging, the `listeners` are called with the key: the embedded
    twin of S3 event notifications.
    """

    name = "local"

    def __init__(self, root: Path, url_prefix: str = "/api/blobs/"):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.meta = self.root / "meta"
        self.tmp = self.root / "tmp"
        self.uploads = self.root / "uploads"
        self.locks = self.root / "locks"
        self.pins = self.root / "pins"  # versions kept for snapshots (see pin_versions)
        for d in (self.objects, self.meta, self.tmp, self.uploads, self.locks, self.pins):
            d.mkdir(parents=True, exist_ok=True)
        self._objects_root = str(self.objects.resolve())
        self._pins_root = str(self.pins.resolve())
        self._meta_root = str(self.meta)
        self.url_prefix = url_prefix
        self.signer = UrlSigner(self.root / "url-signing.key")
        self.spent = SpentGrants(self.root / "spent-grants.db")
        self.listeners: list[Callable[[str], None]] = []
        self._thread = threading.local()

    # -- locks and notifications --------------------------------------------------------------

    @contextlib.contextmanager
    def key_lock(self, key: str) -> Iterator[None]:
        """Across threads and processes (`make run` and the CLI share a data dir): striped flocks.
        Only the outermost lock of a thread is taken; a writer never holds two keys."""
        state = self._thread
        if getattr(state, "depth", 0):
            state.depth += 1
            try:
                yield
            finally:
                state.depth -= 1
            return
        stripe = self.locks / f"{zlib.crc32(key.encode()) % LOCK_STRIPES}.lock"
        with super().key_lock(key), open(stripe, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            state.depth, state.pending = 1, []
            try:
                yield
            finally:
                state.depth = 0
                fcntl.flock(fh, fcntl.LOCK_UN)
        for pending in state.pending:  # listeners run outside the lock
            self._notify(pending)

    def _notify(self, key: str) -> None:
        if getattr(self._thread, "depth", 0):
            self._thread.pending.append(key)
            return
        for listener in self.listeners:
            listener(key)

    # -- paths --------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file of a key that can hold an object; BadRequest for keys outside the store."""
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        # Lexical check (no syscalls): the store never creates symlinks, so `..` is the only escape.
        path = os.path.normpath(os.path.join(self._objects_root, key))
        if not path.startswith(self._objects_root + os.sep) or key.endswith("/") or not key:
            raise BadRequest(f"invalid storage key {key!r}")
        return path

    def exists(self, key: str) -> bool:
        return self._stat(key) is not None

    def _existing(self, key: str) -> Path | None:
        """The file of a key if it holds an object; keys no file can hold (`a/`) hold nothing, as on S3."""
        st = self._stat(key)
        return Path(self._file(key)) if st else None

    def _stat(self, key: str) -> os.stat_result | None:
        """The object's file status, None without one (plain strings: events read three keys each)."""
        if not key or key.endswith("/"):
            return None
        try:
            st = os.stat(self._file(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def _meta_path(self, key: str) -> Path:
        return Path(self._meta_file(key))

    def _meta_file(self, key: str) -> str:
        parent, _, name = key.rpartition("/")
        sidecar = name + ".json"
        if len(sidecar.encode()) > MAX_NAME_BYTES:  # a 255-byte file name leaves no room for ".json"
            sidecar = hashlib.sha256(name.encode()).hexdigest() + ".long.json"
        return os.path.join(self._meta_root, parent, sidecar)

    def _read_meta(self, key: str) -> dict:
        try:
            with open(self._meta_file(key), "rb") as fh:
                return json.loads(fh.read())
        except (FileNotFoundError, NotADirectoryError):
            return {}

    def _write_meta(self, key: str, meta: dict) -> None:
        durable = not layout.is_thumbnail(key)
        write_atomic(self._meta_path(key), json.dumps(meta).encode(), tmp_dir=self.tmp, durable=durable)

    # -- objects ------------------------------------------------------------------------------

    @disk_errors
    def write_stream(
        self, key: str, stream: BinaryIO, content_type: str, max_size: int, metadata: dict | None = None
    ) -> ObjectInfo:
        """Copy a stream into place atomically; Forbidden if it carries more than `max_size` bytes."""
        path = self._path(key)
        tmp = self.tmp / f"upload-{new_id()}"
        try:
            etag = self._receive(stream, tmp, max_size, durable=not layout.is_thumbnail(key))
            return self._commit(key, path, tmp, content_type, etag, metadata)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _receive(stream: BinaryIO, tmp: Path, max_size: int, durable: bool = True) -> str:
        """Copy a stream to a temp file, counting, flushed to disk if `durable`; returns its MD5 (S3's ETag)."""
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with open(tmp, "wb") as fh:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_size:
                    raise Forbidden(f"the upload is larger than the {max_size} bytes it was signed for")
                digest.update(chunk)
                fh.write(chunk)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        return digest.hexdigest()

    def _commit(
        self, key: str, path: Path, tmp: Path, content_type: str, etag: str, metadata: dict | None = None
    ) -> ObjectInfo:
        # Sidecar first, then the object: a crash in between leaves no object with stale metadata.
        # As on S3, a new version of an object starts without tags.
        self._write_meta(key, {"content_type": content_type, "etag": etag, "tags": {}, "metadata": metadata or {}})
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        info = self.head(key)
        assert info is not None
        self._notify(key)
        return info

    @disk_errors
    def accept_upload(self, grant: Grant, token: str, stream: BinaryIO, min_size: int = 0) -> ObjectInfo:
        """What a signed PUT or POST sends: write-once, and its URL is spent by the write."""
        path = self._path(grant.key)
        tmp = self.tmp / f"upload-{new_id()}"
        try:
            etag = self._receive(stream, tmp, grant.max_size)
            if tmp.stat().st_size < min_size:
                raise Forbidden("the uploaded file is empty")
            with self.key_lock(grant.key):
                # Spent after the write, under the key's lock: a crash in between leaves the object, which
                # refuses a replay by itself, and the uploader's retry learns its bytes arrived.
                self.spent.refuse_spent(token)
                self._refuse_overwrite(path)
                info = self._commit(grant.key, path, tmp, grant.content_type, etag, grant.metadata)
                self.spent.spend(token, grant.expires_at)
                return info
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _refuse_overwrite(path: Path) -> None:
        if path.is_file():
            raise PreconditionFailed("an object is already stored here and uploads never replace one")

    def link_in(self, key: str, source: str) -> ObjectInfo:
        """Place a file of the same file system at `key` as a hard link: no bytes copied, no sidecar
        (`head` derives the ETag from the file's identity and the type from its name), no listener
        called (the importer indexes in bulk). Writes never change a file in place, so the source
        and the object stay the same bytes until one is replaced. Across file systems: a copy."""
        path = self._file(key)
        if os.path.islink(source):  # its target: the store never holds a symlink (os.link would keep it)
            source = os.path.realpath(source)
        parent = os.path.dirname(path)
        try:
            os.mkdir(parent)  # an item's own directory: new, as a rule
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(parent, exist_ok=True)
        try:
            os.link(source, path)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            tmp = self.tmp / f"import-{new_id()}"
            shutil.copyfile(source, tmp)
            os.replace(tmp, path)
        st = os.stat(path)
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=linked_etag(st),
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=guessed_type(key),
        )

    def put_bytes(self, key: str, data: bytes, content_type: str, metadata: dict | None = None) -> str:
        return self.write_stream(key, io.BytesIO(data), content_type, len(data), metadata).etag

    def put_bytes_if(self, key: str, data: bytes, content_type: str, expected_etag: str | None) -> str:
        with self.key_lock(key):
            current = self.head(key)
            if (current.etag if current else None) != expected_etag:
                raise PreconditionFailed("someone else changed it first; read it again")
            return self.put_bytes(key, data, content_type)

    def put_file(self, key: str, path: Path, content_type: str, metadata: dict | None = None) -> ObjectInfo:
        with open(path, "rb") as fh:
            return self.write_stream(key, fh, content_type, os.fstat(fh.fileno()).st_size, metadata)

    def get_bytes(self, key: str) -> bytes:
        path = self._existing(key)
        try:
            if path is None:
                raise FileNotFoundError(key)
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"no object {key}") from None

    def read_into(self, key: str, out: BinaryIO) -> None:
        path = self._existing(key)
        try:
            if path is None:
                raise FileNotFoundError(key)
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    out.write(chunk)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"no object {key}") from None

    def open(self, key: str) -> tuple[Path, ObjectInfo]:
        """The file behind a key, for streaming it out."""
        info = self.head(key)
        if info is None:
            raise ObjectMissing(f"no object {key}")
        return self._path(key), info

    def head(self, key: str) -> ObjectInfo | None:
        st = self._stat(key)
        if st is None:
            return None
        meta = self._read_meta(key)
        linked = "etag" not in meta  # placed by `link_in`: no sidecar, or one holding only tags
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=linked_etag(st) if linked else meta["etag"],
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=guessed_type(key) if linked else meta.get("content_type"),
            metadata=meta.get("metadata", {}),
        )

    @disk_errors
    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            path = self._existing(key)
            if path is None:
                continue  # deleting a missing key is not an error on S3 either
            path.unlink(missing_ok=True)
            try:
                self._meta_path(key).unlink(missing_ok=True)
                self._prune_empty_dirs(path.parent, self.objects)
                self._prune_empty_dirs(self._meta_path(key).parent, self.meta)
            finally:
                self._notify(key)  # the object is gone: the index hears it even when its sidecar stays

    @staticmethod
    def _prune_empty_dirs(directory: Path, stop: Path) -> None:
        # Empty directories would otherwise show up as common prefixes in delimited listings.
        while directory != stop and directory.is_relative_to(stop):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    # -- tags ---------------------------------------------------------------------------------

    def get_tags(self, key: str) -> dict[str, str]:
        if self._stat(key) is None:  # a stat, not a head: the sidecar is read once, below
            raise ObjectMissing(f"no object {key}")
        return dict(self._read_meta(key).get("tags", {}))

    def update_tags(
        self,
        key: str,
        change: Callable[[dict[str, str]], dict[str, str]],
        then: Callable[[dict[str, str]], None] | None = None,
    ) -> dict[str, str]:
        """As the port's; with `then` (which records the written state under the lock: the label
        routes index it), the listeners are not called for this write: they would only read back and
        index the same state again, in the request's own thread."""
        if then is None:
            return super().update_tags(key, change)
        with self.key_lock(key):
            wanted = super().update_tags(key, change, then)
            self._thread.pending = [pending for pending in self._thread.pending if pending != key]
        return wanted

    @disk_errors
    def put_tags(self, key: str, tags: dict[str, str]) -> None:
        if self._existing(key) is None:
            raise ObjectMissing(f"no object {key}")
        meta = self._read_meta(key)
        meta["tags"] = dict(tags)
        self._write_meta(key, meta)
        self._notify(key)

    # -- pre-signed URLs ----------------------------------------------------------------------

    def _url(self, grant: Grant) -> str:
        return self.url_prefix + self.signer.sign(grant)

    def presign_put(self, key: str, content_type: str, size: int, expires: int, metadata: dict | None = None) -> dict:
        grant = Grant("put", key, int(time.time()) + expires, content_type, size, metadata=metadata or {})
        headers = {"Content-Type": content_type, **metadata_headers(metadata), **WRITE_ONCE}
        return {"method": "PUT", "url": self._url(grant), "headers": headers}

    def presign_post(self, key: str, content_type: str, size: int, expires: int, metadata: dict | None = None) -> dict:
        grant = Grant("post", key, int(time.time()) + expires, content_type, size, metadata=metadata or {})
        fields = {"Content-Type": content_type, **metadata_headers(metadata)}
        return {"method": "POST", "url": self._url(grant), "fields": fields}

    def presign_get(self, key: str, expires: int, filename: str | None = None, version_id: str | None = None) -> str:
        grant = Grant("get", key, int(time.time()) + expires, filename=filename or "", version_id=version_id or "")
        suffix = "/" + quote(filename, safe="") if filename else ""
        return self._url(grant) + suffix
