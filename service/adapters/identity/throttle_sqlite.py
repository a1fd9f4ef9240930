"""SqliteSignInThrottle: the sign-in throttle's records in SQLite, shared by every process of a server."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from service.adapters import shared_db
from service.adapters.identity.throttle import MAX_KEYS, SignInThrottle, ThrottleLimits, _Record


class SqliteSignInThrottle(SignInThrottle):
    """The same rules over one table: a failure is a read-modify-write in one write transaction, so
    failures in different processes all count. Its clock must read the same in every process
    (the monotonic clock does, on one machine)."""

    def __init__(self, path: Path, limits: ThrottleLimits, clock: Callable[[], float] = time.monotonic):
        super().__init__(limits, clock)
        self._db = shared_db.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL,"
            " seen REAL NOT NULL, PRIMARY KEY (kind, key))"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS records_seen ON records (seen)")
        self._connection = threading.Lock()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        with self._connection, shared_db.immediate(self._db):
            yield

    def _load(self, kind: str, key: str) -> _Record | None:
        row = self._db.execute("SELECT record FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return _Record(**json.loads(row[0])) if row else None

    def _store(self, kind: str, key: str, record: _Record) -> None:
        body = json.dumps(dataclasses.asdict(record))
        self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", (kind, key, body, self._clock()))
        # Bounded as the in-memory one: the records touched longest ago go first.
        excess = self._db.execute("SELECT count(*) FROM records").fetchone()[0] - MAX_KEYS
        if excess > 0:
            self._db.execute(
                "DELETE FROM records WHERE rowid IN (SELECT rowid FROM records ORDER BY seen LIMIT ?)", (excess,)
            )

    def _forget(self, kind: str, key: str) -> None:
        self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
