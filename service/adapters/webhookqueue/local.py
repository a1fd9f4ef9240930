"""SqliteWebhookOutbox: deliveries in a SQLite table in the data dir, made by worker threads of the service."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from service.adapters import shared_db
from service.adapters.webhookqueue import Attempt, WebhookQueue

log = logging.getLogger("edna.webhooks")

IDLE_WAIT = 1.0  # seconds a worker sleeps at most with nothing due (a `send` in its own process wakes it at once)


class SqliteWebhookOutbox(WebhookQueue):
    """A row per delivery, with the time its next attempt is due. A worker claims a row by moving its
    due time a lease ahead, so a row whose worker died mid-attempt (the process ended) is tried again
    once the lease runs out; a restart picks up every row left. `send` is one small insert, from any
    process of the server; the one that serves delivers."""

    name = "local"

    def __init__(self, path: Path, workers: int, lease_seconds: float):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.workers = max(1, workers)
        self.lease = lease_seconds
        self._db = shared_db.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, due REAL NOT NULL, body TEXT)")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due)")
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self._threads: list[threading.Thread] = []

    def send(self, message: dict, delay: float = 0.0) -> None:
        row = (message["delivery_id"], time.time() + delay, json.dumps(message))
        with self._changed:
            self._db.execute("INSERT OR REPLACE INTO outbox (id, due, body) VALUES (?, ?, ?)", row)
            self._changed.notify()

    def serve(self, attempt: Attempt) -> None:
        for n in range(self.workers - len(self._threads)):
            thread = threading.Thread(target=self._work, args=(attempt,), name=f"edna-webhooks-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _claim(self) -> tuple[str, dict] | None:
        """The next due row, its due time moved a lease ahead; None (after a wait) when nothing is due."""
        with self._changed:
            while not self._closed:
                now = time.time()
                with shared_db.immediate(self._db) as db:  # another process's worker never claims it too
                    row = db.execute("SELECT id, due, body FROM outbox ORDER BY due LIMIT 1").fetchone()
                    if row is not None and row[1] <= now:
                        db.execute("UPDATE outbox SET due = ? WHERE id = ?", (now + self.lease, row[0]))
                if row is not None and row[1] <= now:
                    return row[0], json.loads(row[2])
                self._changed.wait(min(IDLE_WAIT, row[1] - now) if row is not None else IDLE_WAIT)
        return None

    def _work(self, attempt: Attempt) -> None:
        while (claimed := self._claim()) is not None:
            row_id, message = claimed
            try:
                following = attempt(message)
            except Exception:  # storage trouble: the lease runs out and the row is tried again
                log.exception("webhook delivery %s: attempt failed; retried after its lease", row_id)
                continue
            with self._changed:
                if self._closed:  # the row stays as claimed: the next start tries it after the lease
                    return
                if following is None:
                    self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                else:
                    next_message, delay = following
                    row = (time.time() + delay, json.dumps(next_message), row_id)
                    self._db.execute("UPDATE outbox SET due = ?, body = ? WHERE id = ?", row)
                    self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._db.close()
