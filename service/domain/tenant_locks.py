"""One lock per tenant, for check-then-act steps (a quota, a unique name) within one server, whose
processes share it when `across` is given."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager


class TenantLocks:
    def __init__(self, across: Callable[[str], AbstractContextManager] | None = None) -> None:
        """`across(tenant)`: a lock the server's other processes take too (the production server's workers)."""
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._across = across

    @contextlib.contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(tenant, threading.Lock())
        with lock, self._across(tenant) if self._across else contextlib.nullcontext():
            yield
