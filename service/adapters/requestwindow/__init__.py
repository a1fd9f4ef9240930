"""The RequestWindow port: requests counted per tenant in fixed one-minute windows, for the request quota."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class RequestWindow(ABC):
    @abstractmethod
    def count(self, tenant: str, minute: int) -> int:
        """Count one request of `tenant` in `minute`; returns the tenant's requests in it so far, this one included."""


class MemoryRequestWindow(RequestWindow):
    """Counts in this process: one process serves (the development server, one Lambda instance; API
    Gateway throttles the whole stage)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._window: dict[str, tuple[int, int]] = {}  # tenant -> (minute, requests in it)

    def count(self, tenant: str, minute: int) -> int:
        with self._lock:
            start, count = self._window.get(tenant, (minute, 0))
            count = count + 1 if start == minute else 1
            self._window[tenant] = (minute, count)
        return count
