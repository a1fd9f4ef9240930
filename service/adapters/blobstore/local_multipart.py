"""Multipart uploads of the local blob store: parts in `uploads/{id}/`, assembled atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import BinaryIO

from service.adapters.blobstore import InvalidParts, ObjectMissing
from service.adapters.blobstore.signed_urls import Grant
from service.adapters.files import disk_errors, write_atomic
from service.vocabulary.ids import new_id

CHUNK = 1024 * 1024
MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller parts except the last: so do we


class LocalMultipart:
    """Mixed into LocalBlobStore, whose paths, signer and commit it uses."""

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ObjectMissing("no such multipart upload")
        return self.uploads / upload_id

    @disk_errors
    def create_multipart(self, key: str, content_type: str, size: int, metadata: dict | None = None) -> str:
        self._path(key)  # validates the key before anything is written
        upload_id = new_id()
        directory = self._upload_dir(upload_id)
        directory.mkdir(parents=True)
        upload = {"key": key, "content_type": content_type, "metadata": metadata or {}}
        write_atomic(directory / "upload.json", json.dumps(upload).encode())
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

    @disk_errors
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

    @disk_errors
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
            with self.key_lock(key):  # write-once, like S3's CompleteMultipartUpload with If-None-Match
                self._refuse_overwrite(self._path(key))
                self._commit(key, self._path(key), tmp, meta["content_type"], etag, meta.get("metadata"))
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)

    @disk_errors
    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            directory, _ = self._upload(key, upload_id)
        except ObjectMissing:
            return
        shutil.rmtree(directory, ignore_errors=True)
