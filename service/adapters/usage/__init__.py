"""The UsageMeter port: per-tenant counters, added in memory on the request path and written to
storage in the background, summed by hour for `GET /api/usage` and the operators' `usage` command."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from datetime import UTC, datetime, timedelta

REQUESTS = "requests"
UPLOAD_ITEMS = "upload_items"
UPLOAD_BYTES = "upload_bytes"


def hour_of(moment: datetime) -> str:
    """The hour bucket a count falls in: `YYYY-MM-DDTHH`, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


class UsageMeter(ABC):
    """Counters by (tenant, hour, metric). `count` only touches memory: a lock and an addition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], float] = defaultdict(float)

    def count(self, tenant: str, metric: str, amount: float = 1) -> None:
        key = (tenant, _current_hour(), metric)
        with self._lock:
            self._pending[key] += amount

    def take_pending(self) -> dict[tuple[str, str, str], float]:
        """What was counted since the last call, handed over exactly once."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
        return dict(pending)

    def give_back(self, pending: dict[tuple[str, str, str], float]) -> None:
        """A write failed: keep its counts for the next one, so nothing is lost."""
        with self._lock:
            for key, value in pending.items():
                self._pending[key] += value

    @abstractmethod
    def flush(self) -> None:
        """Write what is pending to storage now."""

    @abstractmethod
    def totals(self, tenant: str, start: datetime, end: datetime) -> dict[str, float]:
        """Every metric of the tenant summed over the hours in [start, end), pending counts included."""

    def after_request(self) -> None:  # noqa: B027 - a meter flushing on its own needs no hook
        """Called after each request."""

    def close(self) -> None:
        self.flush()


_hour_cache: tuple[int, str] = (-1, "")


def _current_hour() -> str:
    """hour_of(now), made once an hour: counting is on every request's path."""
    global _hour_cache
    number = int(time.time() // 3600)
    if _hour_cache[0] != number:
        _hour_cache = (number, hour_of(datetime.fromtimestamp(number * 3600, UTC)))
    return _hour_cache[1]


def hour_span(start: datetime, end: datetime) -> tuple[str, str]:
    """The first and the last hour bucket that overlap [start, end)."""
    return hour_of(start), hour_of(end - timedelta(microseconds=1))
