"""SignInThrottle: failed sign-ins counted per sign-in name and per client address."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from service.vocabulary.errors import TooManyRequests

MAX_KEYS = 100_000  # bounds memory under a flood of made-up names; the oldest entries go first
NAME, ADDRESS = "name", "address"  # what a record counts the failures of


class SignInThrottled(TooManyRequests):
    """Too many failed sign-ins for this name or from this address; `retry_after` in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after} seconds", retry_after)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0  # consecutive lockouts: each one lasts twice as long as the one before


@dataclass(frozen=True)
class ThrottleLimits:
    window: float
    per_name: int
    per_address: int
    lockout: float
    max_lockout: float


class SignInThrottle:
    """Only failures count, so a busy address signing many users in is never slowed. After
    `per_name` failures for one name (or `per_address` from one address) within `window`, every
    attempt for that name (address) is refused, right password included, until the lockout ends.

    This one keeps its state in memory, for one process: a check costs a dict lookup, and a restart
    forgets lockouts, which only an operator can do. A server of several processes shares one
    (`SqliteSignInThrottle`): else each process would grant the full count of tries."""

    def __init__(self, limits: ThrottleLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Records read and written inside are one change (a lock here; a transaction when shared)."""
        with self._lock:
            yield

    def _load(self, kind: str, key: str) -> _Record | None:
        return self._records.get((kind, key))

    def _store(self, kind: str, key: str, record: _Record) -> None:
        if (kind, key) not in self._records and len(self._records) >= MAX_KEYS:
            self._records.pop(next(iter(self._records)))
        self._records[(kind, key)] = record

    def _forget(self, kind: str, key: str) -> None:
        self._records.pop((kind, key), None)

    def check(self, name: str, address: str) -> None:
        """SignInThrottled while the name or the address is locked out."""
        now = self._clock()
        with self._held():
            records = (self._load(NAME, _key(name)), self._load(ADDRESS, address))
        until = max((r.locked_until for r in records if r is not None), default=0.0)
        if until > now:
            raise SignInThrottled(max(1, math.ceil(until - now)))

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        with self._held():
            self._fail(NAME, _key(name), self.limits.per_name, now)
            self._fail(ADDRESS, address, self.limits.per_address, now)

    def succeeded(self, name: str) -> None:
        """The name's count starts over; the address's does not (an attacker could reset it so)."""
        with self._held():
            self._forget(NAME, _key(name))

    def _fail(self, kind: str, key: str, limit: int, now: float) -> None:
        record = self._load(kind, key) or _Record()
        window = self.limits.window
        record.failures = [t for t in record.failures if now - t < window] + [now]
        if record.lockouts and now - record.locked_until > window:
            record.lockouts = 0  # quiet for a whole window since the last lockout: start gently again
        if len(record.failures) >= limit:
            lockout = min(self.limits.lockout * 2**record.lockouts, self.limits.max_lockout)
            record.locked_until = now + lockout
            record.lockouts += 1
            record.failures = []
        self._store(kind, key, record)


def _key(name: str) -> str:
    """`tenant/dave` and a bare `dave` count as one name: two spellings must not double the tries."""
    return name.rpartition("/")[2].lower()


def client_address(remote_addr: str, forwarded_for: str, trusted_proxies: frozenset[str]) -> str:
    """The WSGI peer, or, when that peer is a trusted proxy, the nearest untrusted address it forwarded."""
    if remote_addr not in trusted_proxies:
        return remote_addr
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted_proxies:
            return hop
    return remote_addr
