"""SQLite files that the processes of one server share: WAL, a busy timeout, writes that lock up front."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_SECONDS = 30  # how long a writer waits for another process's write before it gives up


def connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection usable from any thread (callers serialise their own use of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=BUSY_SECONDS, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    db.execute("PRAGMA synchronous=NORMAL")  # WAL keeps committed rows through a process crash
    return db


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read-modify-write as one transaction that takes the write lock first: two processes never
    read the same row and both act on it, and none fails upgrading a read lock (SQLITE_BUSY)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
