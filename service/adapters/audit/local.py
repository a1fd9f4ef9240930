"""The embedded audit trail: one JSONL file per tenant and day under the data dir, appended to."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from service.adapters.audit import AuditLog, day_of

OPEN_FILES = 64  # files kept open (one per tenant and day being written)


class LocalAuditLog(AuditLog):
    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], int] = {}  # (tenant, day) -> fd: an append is then one write

    def _file(self, tenant: str, day: str) -> Path:
        return self.root / tenant / f"{day}.jsonl"

    def append(self, entry: dict) -> None:
        when = entry["time"]
        # The service writes UTC times, whose first ten characters are the day; others are converted.
        day = when[:10] if when.endswith("+00:00") else day_of(datetime.fromisoformat(when))
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        key = (entry["tenant"], day)
        with self._lock:
            fd = self._open.get(key)
            if fd is None:
                if len(self._open) >= OPEN_FILES:
                    self.close()
                path = self._file(*key)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = self._open[key] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            # One write of a whole line with O_APPEND: lines from other processes never interleave.
            os.write(fd, line)

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()

    def entries(
        self, tenant: str, day: str, after: str | None, actor: str | None = None, action: str | None = None
    ) -> Iterator[tuple[str, dict]]:
        path = self._file(tenant, day)
        if not path.exists():
            return
        skip = int(after) if after is not None else -1
        with path.open("rb") as lines:
            for number, line in enumerate(lines):
                if number > skip and line.endswith(b"\n"):  # a line still being written is read next time
                    yield str(number), json.loads(line)
