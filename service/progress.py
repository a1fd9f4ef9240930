"""A one-line progress report for long operator commands (count, rate), on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, out: TextIO = sys.stderr):
        self.label = label
        self.out = out
        # A terminal gets one line redrawn in place; a log gets a line every few seconds.
        self.live = out.isatty()
        self.every = 0.5 if self.live else 5.0
        self.count = 0
        self.started = self._shown = time.monotonic()

    def step(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._shown >= self.every:
            self._shown = now
            line = f"{self.label}: {self.count} items, {self.rate:.0f}/s"
            self.out.write(f"\r{line}\x1b[K" if self.live else line + "\n")
            self.out.flush()

    @property
    def rate(self) -> float:
        return self.count / max(time.monotonic() - self.started, 1e-9)

    def done(self) -> str:
        summary = f"{self.label}: {self.count} items in {time.monotonic() - self.started:.1f} s ({self.rate:.0f}/s)"
        self.out.write(f"\r{summary}\x1b[K\n" if self.live else summary + "\n")
        self.out.flush()
        return summary
