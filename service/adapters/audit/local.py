"""The embedded audit trail: one JSONL file per tenant and day under the data dir, appended to."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from service.adapters.audit import AuditLog, day_of


class LocalAuditLog(AuditLog):
    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()

    def _file(self, tenant: str, day: str) -> Path:
        return self.root / tenant / f"{day}.jsonl"

    def append(self, entry: dict) -> None:
        path = self._file(entry["tenant"], day_of(datetime.fromisoformat(entry["time"])))
        line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            # One write of a whole line with O_APPEND: lines from other processes never interleave.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def entries(self, tenant: str, day: str, after: str | None) -> Iterator[tuple[str, dict]]:
        path = self._file(tenant, day)
        if not path.exists():
            return
        skip = int(after) if after is not None else -1
        with path.open("rb") as lines:
            for number, line in enumerate(lines):
                if number > skip and line.endswith(b"\n"):  # a line still being written is read next time
                    yield str(number), json.loads(line)
