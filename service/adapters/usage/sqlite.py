"""The embedded usage meter: counters summed into SQLite by a background thread once a second."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from service.adapters.usage import UsageMeter, hour_span

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    tenant TEXT NOT NULL, hour TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (tenant, hour, metric)
) WITHOUT ROWID;
"""


class SqliteUsageMeter(UsageMeter):
    def __init__(self, path: Path, flush_seconds: float = 1.0):
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._write = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(flush_seconds,), name="usage-meter", daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.flush()

    def flush(self) -> None:
        # Taken under the lock a total reads under: counts are always either pending or written for it.
        with self._write:
            pending = self.take_pending()
            if not pending:
                return
            rows = [(tenant, hour, metric, value) for (tenant, hour, metric), value in pending.items()]
            try:
                self._db.execute("BEGIN IMMEDIATE")  # other processes of the server add theirs too
                self._db.executemany(
                    "INSERT INTO usage VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = value + excluded.value",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self.give_back(pending)
                raise

    def totals(self, tenant: str, start: datetime, end: datetime) -> dict[str, float]:
        self.flush()
        first, last = hour_span(start, end)
        with self._write:
            rows = self._db.execute(
                "SELECT metric, sum(value) FROM usage WHERE tenant = ? AND hour BETWEEN ? AND ? GROUP BY metric",
                (tenant, first, last),
            ).fetchall()
        return dict(rows)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
        self._db.close()
