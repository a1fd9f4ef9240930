"""Listing the local blob store: keys and common prefixes in S3's order, a page at a time, read from the
directory tree itself (no index to keep in step with the files)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from service.adapters.blobstore import Listing, ObjectInfo


class LocalListing:
    """Mixed into LocalBlobStore, whose `objects/` tree it walks and whose `head` describes each key."""

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
