"""Crash-safe file writes shared by the embedded adapters."""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from service.domain.errors import Unavailable

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


def write_atomic(path: Path, data: bytes, mode: int = 0o644, tmp_dir: Path | None = None) -> None:
    """Readers see the old file or the new one, never half of it (rename is atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = (tmp_dir or path.parent) / f".tmp-{secrets.token_hex(8)}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
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
