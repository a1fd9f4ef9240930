"""One lock per tenant, for check-then-act steps (a quota, a unique name) within one server process."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class TenantLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(tenant, threading.Lock())
        with lock:
            yield
