"""ChangeStamp: a file in the data dir whose every rewrite tells the server's other processes to drop
what they cached (members and roles, applications), instead of trusting it until its time runs out."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from service.adapters.files import write_atomic


class ChangeStamp:
    def __init__(self, path: Path):
        self.path = path
        self._seen = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_mtime_ns  # a rewrite is a new file (an atomic rename)

    def bump(self) -> None:
        """Something cached elsewhere changed: a new file, seen by every process's next `moved`."""
        write_atomic(self.path, secrets.token_bytes(8), durable=False)

    def moved(self) -> bool:
        """Whether the file changed since this process last asked (one stat: cheap on every request)."""
        now = self._read()
        if now == self._seen:
            return False
        self._seen = now
        return True
