"""The embedded index's file at start: a corrupt one is moved aside, a lost one is made anew, and
either is reported (by /api/health) until `python -m service reindex` has rebuilt it from storage."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from service.adapters.files import write_atomic
from service.adapters.searchindex.sqlite import SqliteSearchIndex

log = logging.getLogger("edna.index")
HINT = "run `python -m service reindex` (with this data dir) to rebuild the index from storage"


class RecoveringSqliteSearchIndex(SqliteSearchIndex):
    """SqliteSearchIndex that always opens: the service keeps running on an empty index rather than
    not starting at all, and says so until a rebuild. The state lives in a file beside the index
    (`index.db.needs-reindex`), so a reindex run by another process clears it for the server too."""

    def __init__(self, path: Path, storage_in_use: Callable[[], bool] = lambda: False):
        path = Path(path)
        self.marker = path.with_name(path.name + ".needs-reindex")
        existed = path.exists() and path.stat().st_size > 0
        if not existed:  # a -wal or -shm without its database belongs to a lost file: never replay it
            _move_aside(path, "orphan")
        try:
            super().__init__(path)
        except sqlite3.DatabaseError as exc:
            self._close_connection()
            moved = _move_aside(path, "corrupt")
            log.error("search index %s is unreadable (%s); moved to %s, starting empty", path, exc, moved)
            super().__init__(path)
            self._mark({"status": "corrupt", "moved_to": moved, "error": str(exc)})
            return
        if not existed and storage_in_use():
            log.error("search index %s was missing while storage holds data; starting empty", path)
            self._mark({"status": "empty"})

    def _close_connection(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _mark(self, condition: dict) -> None:
        condition = {**condition, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hint": HINT}
        write_atomic(self.marker, json.dumps(condition).encode())

    def condition(self) -> dict:
        try:
            return json.loads(self.marker.read_text())
        except FileNotFoundError:
            return {"status": "ok"}
        except ValueError:  # a marker cut short: the index still needs the rebuild it was about
            return {"status": "unknown", "hint": HINT}

    def rebuilt(self) -> None:
        self.marker.unlink(missing_ok=True)


def _move_aside(path: Path, why: str) -> str:
    """Rename the database and its -wal/-shm to `<name>.<why>-<time>`; the database's new name, if it had one."""
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"{time.time() % 1:.6f}"[1:]  # two moves in a second stay apart
    moved = ""
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        target = path.with_name(f"{path.name}.{why}-{stamp}{suffix}")
        with contextlib.suppress(FileNotFoundError):
            source.rename(target)
            moved = moved or (target.name if not suffix else "")
    return moved
