"""A shard's parts written in order on one background thread, so storage latency overlaps inference."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class PartWriter:
    """Calls `write(batch)` for each submitted batch in submission order, at most `depth` batches behind."""

    # After each write it asks `cancelled()`; once that says yes, or a write fails, later batches are
    # dropped unwritten, so the parts in storage stay a contiguous run that a resumed shard can trust.

    def __init__(self, write: Callable[[list], None], cancelled: Callable[[], bool], depth: int = 2):
        self._write = write
        self._cancelled = cancelled
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self.cancel_seen = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edna-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            if self.error is not None or self.cancel_seen.is_set():
                continue  # keep draining so that submit() never blocks on a writer that gave up
            try:
                self._write(batch)
                if self._cancelled():
                    self.cancel_seen.set()
            except BaseException as e:  # noqa: BLE001 - not swallowed: submit() and close() re-raise it
                self.error = e

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, batch: list) -> None:
        """Queue one batch; raises the writer's error, if a previous write failed."""
        self._raise()
        self._queue.put(batch)

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for the queued batches; raises the writer's error unless told not to."""
        self._queue.put(_STOP)
        self._thread.join()
        if raise_error:
            self._raise()
