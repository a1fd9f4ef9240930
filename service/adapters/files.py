"""Crash-safe file writes shared by the embedded adapters."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from service.vocabulary.errors import Unavailable

T = TypeVar("T")


def disk_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """A write the disk refused (full, read-only, I/O error) in the port's terms, as S3BlobStore
    reports an outage: Unavailable (503, try again), not a 500 that reads like a bug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            raise Unavailable(f"storage could not write ({exc.strerror or exc}); try again") from exc

    return wrapper


def write_atomic(path: Path, data: bytes, mode: int = 0o600, tmp_dir: Path | None = None, durable: bool = True) -> None:
    """Readers see the old file or the new one, never half of it (rename is atomic on POSIX); flushed
    to disk first if `durable`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = (tmp_dir or path.parent) / f".tmp-{secrets.token_hex(8)}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def create_once(path: Path, make: Callable[[], bytes], mode: int = 0o600) -> bytes:
    """The file's content, creating it first if absent; concurrent creators agree on one winner."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{secrets.token_hex(8)}"
        tmp.write_bytes(make())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)  # fails if another process got there first: keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


PRIVATE_MARK = ".private"  # present once every file of a data dir was made owner-only


def make_private(root: Path) -> None:
    """The data dir 0700; once (upgrading a data dir made before), every file 0600 and dir 0700."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    if (root / PRIVATE_MARK).exists():
        return
    for directory, dirs, files in os.walk(root):
        for names, mode in ((dirs, 0o700), (files, 0o600)):
            for name in names:
                path = os.path.join(directory, name)
                with contextlib.suppress(FileNotFoundError):  # a temp file renamed meanwhile
                    if not os.path.islink(path):
                        os.chmod(path, mode)
    (root / PRIVATE_MARK).touch(mode=0o600)
