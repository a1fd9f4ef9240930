"""LocalThumbnailQueue: a few threads behind a bounded queue, in the service process."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from service.adapters.thumbnailqueue import ThumbnailQueue

log = logging.getLogger("edna.thumbnails")

_STOP = None


class LocalThumbnailQueue(ThumbnailQueue):
    """`submit` never blocks: a full backlog drops the key (the item stays available without a preview,
    and `reindex` makes the missing thumbnails); a key already waiting is not queued twice."""

    name = "local"

    def __init__(self, workers: int, backlog: int):
        self.workers = max(1, workers)
        self._queue: queue.Queue[str | None] = queue.Queue(max(1, backlog))
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def submit(self, key: str) -> bool:
        with self._lock:
            if key in self._waiting:
                return True  # the worker reads the object when it gets there: the newest version
            try:
                self._queue.put_nowait(key)
            except queue.Full:
                log.warning("thumbnail backlog full: %s dropped (reindex makes it)", key)
                return False
            self._waiting.add(key)
        return True

    def serve(self, make: Callable[[str], None]) -> None:
        for n in range(self.workers - len(self._threads)):
            thread = threading.Thread(target=self._work, args=(make,), name=f"edna-thumbnails-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self, make: Callable[[str], None]) -> None:
        while (key := self._queue.get()) is not _STOP:
            with self._lock:
                self._waiting.discard(key)
            try:
                make(key)
            except Exception:
                log.exception("thumbnail of %s failed (reindex retries it)", key)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self) -> None:
        try:  # what still waits is left for `reindex`: closing never decodes a backlog
            while True:
                self._queue.get_nowait()
                self._queue.task_done()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
