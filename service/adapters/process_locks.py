"""Locks that the processes of one server share: one `flock`ed file per name in the data dir."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path


class FileLocks:
    """`hold(name)` blocks until no other process holds `name`; the kernel lets go if a holder dies."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[None]:
        path = self.root / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"  # any name, a safe file
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
