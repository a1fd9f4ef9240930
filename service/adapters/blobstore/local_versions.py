"""Kept versions of the local blob store, for snapshots.

Writes never change a file in place (they rename a new one over it) and deletes unlink it, so a
hard link taken now keeps these exact bytes. Each holder's links live under `pins/{holder}/`,
outside the key space (never listed); the file system counts the links, so the bytes go with
the last holder that kept them. A version id names the holder and the key's link.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from service.adapters.blobstore import ObjectInfo, ObjectMissing, T
from service.adapters.blobstore.local_linked import guessed_type, linked_etag
from service.adapters.files import disk_errors


class LocalVersions:
    """Mixed into LocalBlobStore, whose files and `pins/` directory it uses."""

    def _version_path(self, key: str, version_id: str) -> Path | None:
        holder, _, digest = version_id.rpartition("/")
        path = os.path.normpath(os.path.join(self._pins_root, version_id))
        if digest != _key_digest(key) or not holder or not path.startswith(self._pins_root + os.sep):
            return None  # not a version of this key
        return Path(path)

    @disk_errors
    def pin_versions(self, prefix: str, entries: Iterable[tuple[str, T]], holder: str) -> Iterator[tuple[T, str]]:
        # Plain strings, not Paths: at a million keys pathlib cost more than the links themselves.
        made: set[str] = set()  # the fan-out directories, created once each (256 at most)
        for key, payload in entries:
            digest = _key_digest(key)
            version_id = f"{holder.strip('/')}/{digest[:2]}/{digest}"
            link = os.path.join(self._pins_root, version_id)
            directory = os.path.dirname(link)
            if directory not in made:
                os.makedirs(directory, exist_ok=True)
                made.add(directory)
            try:
                os.link(self._file(key), link)
            except FileNotFoundError:
                continue  # deleted since it was listed: nothing to keep
            except FileExistsError:
                pass  # kept by this holder already
            with contextlib.suppress(FileNotFoundError, FileExistsError):
                os.link(self._meta_file(key), link + ".json")  # its type and ETag then
            yield payload, version_id

    @disk_errors
    def release_versions(self, holder_prefix: str) -> None:
        shutil.rmtree(self.pins / holder_prefix.strip("/"), ignore_errors=True)

    def has_version(self, key: str, version_id: str) -> bool:
        path = self._version_path(key, version_id)
        return path is not None and path.is_file()

    def open_version(self, key: str, version_id: str) -> tuple[Path, ObjectInfo]:
        """The file of a kept version, for streaming it out; ObjectMissing once released."""
        path = self._version_path(key, version_id)
        try:
            if path is None:
                raise FileNotFoundError(version_id)
            st = path.stat()
        except FileNotFoundError:
            raise ObjectMissing(f"no version {version_id} of {key}") from None
        try:
            meta = json.loads(path.with_name(path.name + ".json").read_text())
        except FileNotFoundError:
            meta = {}  # kept from an object placed by `link_in`
        linked = "etag" not in meta
        info = ObjectInfo(
            key=key,
            size=st.st_size,
            etag=linked_etag(st) if linked else meta["etag"],
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=guessed_type(key) if linked else meta.get("content_type"),
        )
        return path, info


def _key_digest(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
