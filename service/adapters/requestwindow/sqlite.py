"""SqliteRequestWindow: the request quota's counts in SQLite, shared by every process of a server."""

from __future__ import annotations

import threading
from pathlib import Path

from service.adapters import shared_db
from service.adapters.requestwindow import RequestWindow


class SqliteRequestWindow(RequestWindow):
    """One row per tenant, counted up in one statement: requests that reach different processes in the
    same minute are all counted, so the quota holds for the server as a whole."""

    def __init__(self, path: Path):
        self._db = shared_db.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS window"
            " (tenant TEXT PRIMARY KEY, minute INTEGER NOT NULL, count INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()  # one connection for the process's threads

    def count(self, tenant: str, minute: int) -> int:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO window VALUES (?, ?, 1) ON CONFLICT (tenant) DO UPDATE SET"
                " count = CASE WHEN minute = excluded.minute THEN count + 1 ELSE 1 END, minute = excluded.minute"
                " RETURNING count",
                (tenant, minute),
            ).fetchone()
        return row[0]
