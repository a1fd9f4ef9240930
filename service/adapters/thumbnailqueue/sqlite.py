"""SqliteThumbnailQueue: keys waiting in a SQLite table in the data dir, made by the threads of one process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from service.adapters import shared_db
from service.adapters.thumbnailqueue import ThumbnailQueue

log = logging.getLogger("edna.thumbnails")

POLL_SECONDS = 0.2  # how soon an idle worker finds a key another process of the server queued


class SqliteThumbnailQueue(ThumbnailQueue):
    """The production server's handover: every worker process submits, the one runner process makes.
    As the in-process queue, `submit` never blocks: a full backlog drops the key (`reindex` makes it),
    and a key already waiting is not queued twice. A key is taken off the table when a worker starts on
    it; one whose worker stopped midway is left to `reindex`, as a dropped one is."""

    name = "local"

    def __init__(self, path: Path, workers: int, backlog: int):
        self.workers = max(1, workers)
        self.backlog = max(1, backlog)
        self._db = shared_db.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS waiting (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE)")
        self._lock = threading.Lock()  # guards the connection and the count of keys being made here
        self._changed = threading.Condition(self._lock)
        self._making = 0
        self._closed = False
        self._threads: list[threading.Thread] = []

    def submit(self, key: str) -> bool:
        with self._changed, shared_db.immediate(self._db) as db:
            if db.execute("SELECT 1 FROM waiting WHERE key = ?", (key,)).fetchone():
                return True  # the worker reads the object when it gets there: the newest version
            if db.execute("SELECT count(*) FROM waiting").fetchone()[0] >= self.backlog:
                log.warning("thumbnail backlog full: %s dropped (reindex makes it)", key)
                return False
            db.execute("INSERT INTO waiting (key) VALUES (?)", (key,))
            self._changed.notify()
        return True

    def serve(self, make: Callable[[str], None]) -> None:
        for n in range(self.workers - len(self._threads)):
            thread = threading.Thread(target=self._work, args=(make,), name=f"edna-thumbnails-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _take(self) -> str | None:
        """The oldest waiting key, taken off the table; None once the queue is closed."""
        with self._changed:
            while not self._closed:
                row = self._db.execute("DELETE FROM waiting WHERE seq = (SELECT min(seq) FROM waiting) RETURNING key")
                key = row.fetchone()
                if key is not None:
                    self._making += 1
                    return key[0]
                self._changed.wait(POLL_SECONDS)
        return None

    def _work(self, make: Callable[[str], None]) -> None:
        while (key := self._take()) is not None:
            try:
                make(key)
            except Exception:
                log.exception("thumbnail of %s failed (reindex retries it)", key)
            finally:
                with self._changed:
                    self._making -= 1
                    self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Until no key waits, in any process, and none is being made here."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._making or self._db.execute("SELECT 1 FROM waiting LIMIT 1").fetchone():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, POLL_SECONDS))
        return True

    def close(self) -> None:
        """What still waits stays in the table for the next start (or `reindex`): closing never decodes a backlog."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
