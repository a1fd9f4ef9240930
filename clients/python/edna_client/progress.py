"""A progress bar on stderr: redrawn at most ten times a second, and only on a terminal (else one summary)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

REDRAW_SECONDS = 0.1


def human_bytes(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GB"


class Progress:
    """Counts files and bytes from any thread; `close()` prints the summary line."""

    def __init__(
        self, verb: str, total_files: int, total_bytes: int, stream: TextIO | None = None, live: bool | None = None
    ):
        self.verb = verb
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.files = self.bytes = self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def add(self, nbytes: int = 0, files: int = 0, failed: int = 0) -> None:
        with self._lock:
            self.bytes += nbytes
            self.files += files
            self.failed += failed
            now = time.monotonic()
            if self.live and now - self._drawn >= REDRAW_SECONDS:
                self._drawn = now
                self.stream.write("\r" + self._line())
                self.stream.flush()

    def _line(self) -> str:
        width = 30
        done = self.files + self.failed
        filled = width if not self.total_files else int(width * done / self.total_files)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"{self.verb} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total_files} files, "
            f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}, {done / elapsed:.0f} files/s{failed}"
        )

    def close(self) -> None:
        with self._lock:
            self.stream.write(("\r" if self.live else "") + self._line() + "\n")
            self.stream.flush()
