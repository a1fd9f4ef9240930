"""LocalBlobStore: objects as files under the data dir, S3 semantics, URLs served by the app."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from service.adapters.blobstore import BlobStore, InvalidParts, Listing, ObjectInfo, ObjectMissing
from service.adapters.blobstore.signed_urls import Grant, UrlSigner
from service.adapters.files import write_atomic
from service.domain.errors import BadRequest, Forbidden
from service.domain.ids import new_id

CHUNK = 1024 * 1024
MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller parts except the last: so do we


class LocalBlobStore(BlobStore):
    """Keys map to files under `objects/`; content type, ETag and tags live in `meta/` sidecars.

    Unlike S3, a key cannot be both an object and the prefix of another (`a` and `a/b`); the
    storage layout never asks for that.

    Writes go to `tmp/` and are renamed into place, so a reader or a crash never sees half an
    object. Pre-signed URLs point at `url_prefix` (the app's `/api/blobs/`), signed by UrlSigner.
    """

    name = "local"

    def __init__(self, root: Path, url_prefix: str = "/api/blobs/"):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.meta = self.root / "meta"
        self.tmp = self.root / "tmp"
        self.uploads = self.root / "uploads"
        for d in (self.objects, self.meta, self.tmp, self.uploads):
            d.mkdir(parents=True, exist_ok=True)
        self._objects_root = str(self.objects.resolve())
        self.url_prefix = url_prefix
        self.signer = UrlSigner(self.root / "url-signing.key")

    # -- paths --------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file of a key that can hold an object; BadRequest for keys outside the store."""
        # Lexical check (no syscalls): the store never creates symlinks, so `..` is the only escape.
        path = os.path.normpath(os.path.join(self._objects_root, key))
        if not path.startswith(self._objects_root + os.sep) or key.endswith("/") or not key:
            raise BadRequest(f"invalid storage key {key!r}")
        return Path(path)

    def _existing(self, key: str) -> Path | None:
        """The file of a key if it holds an object; keys no file can hold (`a/`) hold nothing, as on S3."""
        if not key or key.endswith("/"):
            return None
        path = self._path(key)
        return path if path.is_file() else None

    def _meta_path(self, key: str) -> Path:
        return self.meta / (key + ".json")

    def _read_meta(self, key: str) -> dict:
        try:
            return json.loads(self._meta_path(key).read_text())
        except FileNotFoundError:
            return {}

    def _write_meta(self, key: str, meta: dict) -> None:
        write_atomic(self._meta_path(key), json.dumps(meta).encode(), tmp_dir=self.tmp)

    # -- objects ------------------------------------------------------------------------------

    def write_stream(self, key: str, stream: BinaryIO, content_type: str, max_size: int) -> ObjectInfo:
        """Copy a stream into place atomically; Forbidden if it carries more than `max_size` bytes."""
        path = self._path(key)
        tmp = self.tmp / f"upload-{new_id()}"
        try:
            etag = self._receive(stream, tmp, max_size)
            return self._commit(key, path, tmp, content_type, etag)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _receive(stream: BinaryIO, tmp: Path, max_size: int) -> str:
        """Copy a stream to a durable temp file, counting; returns its MD5 (S3's ETag)."""
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with open(tmp, "wb") as fh:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_size:
                    raise Forbidden(f"the upload is larger than the {max_size} bytes it was signed for")
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        return digest.hexdigest()

    def _commit(self, key: str, path: Path, tmp: Path, content_type: str, etag: str) -> ObjectInfo:
        # Sidecar first, then the object: a crash in between leaves no object with stale metadata.
        self._write_meta(key, {"content_type": content_type, "etag": etag, "tags": {}})
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        info = self.head(key)
        assert info is not None
        return info

    def put_bytes(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return self.write_stream(key, io.BytesIO(data), content_type, len(data))

    def get_bytes(self, key: str) -> bytes:
        path = self._existing(key)
        try:
            if path is None:
                raise FileNotFoundError(key)
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"no object {key}") from None

    def open(self, key: str) -> tuple[Path, ObjectInfo]:
        """The file behind a key, for streaming it out."""
        info = self.head(key)
        if info is None:
            raise ObjectMissing(f"no object {key}")
        return self._path(key), info

    def head(self, key: str) -> ObjectInfo | None:
        path = self._existing(key)
        try:
            st = path.stat() if path else None
        except (FileNotFoundError, NotADirectoryError):
            return None
        if st is None:
            return None
        meta = self._read_meta(key)
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=meta.get("etag", ""),
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=meta.get("content_type"),
        )

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            path = self._existing(key)
            if path is None:
                continue  # deleting a missing key is not an error on S3 either
            path.unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)
            self._prune_empty_dirs(path.parent, self.objects)
            self._prune_empty_dirs(self._meta_path(key).parent, self.meta)

    @staticmethod
    def _prune_empty_dirs(directory: Path, stop: Path) -> None:
        # Empty directories would otherwise show up as common prefixes in delimited listings.
        while directory != stop and directory.is_relative_to(stop):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    # -- listing ------------------------------------------------------------------------------

    def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        token: str | None = None,
        limit: int = 1000,
    ) -> Listing:
        after = token or start_after or ""
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last = None
        for key, is_prefix in self._walk(prefix, after, delimiter == "/"):
            if len(objects) + len(prefixes) == limit:
                return Listing(objects, prefixes, next_token=last)
            if is_prefix:
                prefixes.append(key)
            else:
                info = self.head(key)
                if info is not None:
                    objects.append(info)
            last = key
        return Listing(objects, prefixes, next_token=None)

    def _walk(self, prefix: str, after: str, delimited: bool) -> Iterator[tuple[str, bool]]:
        """Keys (or common prefixes) under `prefix` and greater than `after`, in S3 order."""
        dir_part, _, name_start = prefix.rpartition("/")
        base = self.objects / dir_part if dir_part else self.objects
        base_key = dir_part + "/" if dir_part else ""
        yield from self._walk_dir(base, base_key, after, delimited, name_start)

    def _walk_dir(
        self, directory: Path, dir_key: str, after: str, delimited: bool, name_start: str = ""
    ) -> Iterator[tuple[str, bool]]:
        try:
            entries = [e for e in os.scandir(directory) if e.name.startswith(name_start)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # S3 orders by full key: a directory "a" sorts as "a/", after a file "a-b".
        entries.sort(key=lambda e: e.name + "/" if e.is_dir() else e.name)
        for entry in entries:
            if entry.is_dir():
                sub = dir_key + entry.name + "/"
                if after >= sub and not after.startswith(sub):
                    continue  # everything inside sorts before the resume position
                if delimited:
                    if sub > after and self._has_files(Path(entry.path)):
                        yield sub, True
                else:
                    yield from self._walk_dir(Path(entry.path), sub, after, delimited)
            elif entry.is_file():
                key = dir_key + entry.name
                if key > after:
                    yield key, False

    @staticmethod
    def _has_files(directory: Path) -> bool:
        return any(files for _, _, files in os.walk(directory))

    # -- tags ---------------------------------------------------------------------------------

    def get_tags(self, key: str) -> dict[str, str]:
        if self.head(key) is None:
            raise ObjectMissing(f"no object {key}")
        return dict(self._read_meta(key).get("tags", {}))

    def put_tags(self, key: str, tags: dict[str, str]) -> None:
        if self.head(key) is None:
            raise ObjectMissing(f"no object {key}")
        meta = self._read_meta(key)
        meta["tags"] = dict(tags)
        self._write_meta(key, meta)

    # -- pre-signed URLs ----------------------------------------------------------------------

    def _url(self, grant: Grant) -> str:
        return self.url_prefix + self.signer.sign(grant)

    def presign_put(self, key: str, content_type: str, size: int, expires: int) -> dict:
        grant = Grant("put", key, int(time.time()) + expires, content_type, size)
        return {"method": "PUT", "url": self._url(grant), "headers": {"Content-Type": content_type}}

    def presign_post(self, key: str, content_type: str, size: int, expires: int) -> dict:
        grant = Grant("post", key, int(time.time()) + expires, content_type, size)
        return {"method": "POST", "url": self._url(grant), "fields": {"Content-Type": content_type}}

    def presign_get(self, key: str, expires: int, filename: str | None = None) -> str:
        grant = Grant("get", key, int(time.time()) + expires, filename=filename or "")
        suffix = "/" + quote(filename, safe="") if filename else ""
        return self._url(grant) + suffix

    # -- multipart ----------------------------------------------------------------------------

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ObjectMissing("no such multipart upload")
        return self.uploads / upload_id

    def create_multipart(self, key: str, content_type: str, size: int) -> str:
        self._path(key)  # validates the key before anything is written
        upload_id = new_id()
        directory = self._upload_dir(upload_id)
        directory.mkdir(parents=True)
        write_atomic(
            directory / "upload.json", json.dumps({"key": key, "content_type": content_type}).encode()
        )
        return upload_id

    def _upload(self, key: str, upload_id: str) -> tuple[Path, dict]:
        directory = self._upload_dir(upload_id)
        try:
            meta = json.loads((directory / "upload.json").read_text())
        except FileNotFoundError:
            raise ObjectMissing("no such multipart upload") from None
        if meta["key"] != key:
            raise ObjectMissing("no such multipart upload")
        return directory, meta

    def presign_part(self, key: str, upload_id: str, part_number: int, part_size: int, expires: int) -> str:
        grant = Grant("part", key, int(time.time()) + expires, "", part_size, upload_id, part_number)
        return self._url(grant)

    def write_part(self, key: str, upload_id: str, part_number: int, stream: BinaryIO, max_size: int) -> str:
        """Store one part; returns its ETag (MD5, as S3 does)."""
        directory, _ = self._upload(key, upload_id)
        tmp = self.tmp / f"part-{new_id()}"
        try:
            etag = self._receive(stream, tmp, max_size)
            os.replace(tmp, directory / f"part-{part_number:05d}")
            write_atomic(directory / f"part-{part_number:05d}.etag", etag.encode())
            return etag
        finally:
            tmp.unlink(missing_ok=True)

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        directory, meta = self._upload(key, upload_id)
        numbers = [n for n, _ in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise InvalidParts("parts must be listed once each, in ascending part_number order")
        digests = []
        for number, etag in parts:
            try:
                stored = (directory / f"part-{number:05d}.etag").read_text()
            except FileNotFoundError:
                raise InvalidParts(f"part {number} was not uploaded") from None
            if stored != etag.strip('"'):
                raise InvalidParts(f"part {number} has ETag {stored}, not {etag}")
            if number != numbers[-1] and (directory / f"part-{number:05d}").stat().st_size < MIN_PART:
                raise InvalidParts(f"part {number} is smaller than 5 MiB and not the last part")
            digests.append(bytes.fromhex(stored))
        tmp = self.tmp / f"assemble-{new_id()}"
        try:
            with open(tmp, "wb") as out:
                for number, _ in parts:
                    with open(directory / f"part-{number:05d}", "rb") as part:
                        shutil.copyfileobj(part, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            etag = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest() + f"-{len(parts)}"
            self._commit(key, self._path(key), tmp, meta["content_type"], etag)
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            directory, _ = self._upload(key, upload_id)
        except ObjectMissing:
            return
        shutil.rmtree(directory, ignore_errors=True)
