"""The local blob store's used upload grants: a signed upload URL works once, until it expires."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from service.adapters.blobstore import PreconditionFailed

# Kept this long past expiry: an upload verified just before expiry may still be arriving.
GRACE_SECONDS = 3600


class SpentGrants:
    """Digests of the tokens already used, in SQLite (shared by `make run` and the CLI's processes)."""

    def __init__(self, path: Path):
        self.path = path
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")  # kept by the file: a spend is one WAL append, no journal to fsync
            db.execute("CREATE TABLE IF NOT EXISTS spent (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS spent_expiry ON spent (expires_at)")

    def _db(self) -> closing[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode a spend survives a process crash without an fsync
        return closing(db)

    def refuse_spent(self, token: str) -> None:
        """PreconditionFailed when the token was used before."""
        with self._db() as db:
            if db.execute("SELECT 1 FROM spent WHERE id = ?", (_digest(token),)).fetchone():
                raise PreconditionFailed("this upload URL was already used; request a new upload")

    def spend(self, token: str, expires_at: int) -> None:
        """Mark the token used (and forget tokens long expired)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM spent WHERE expires_at < ?", (int(time.time()) - GRACE_SECONDS,))
            db.execute("INSERT OR IGNORE INTO spent (id, expires_at) VALUES (?, ?)", (_digest(token), expires_at))
            db.execute("COMMIT")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
