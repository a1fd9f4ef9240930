"""The local thumbnail queue: bounded, never blocks the caller, drains, and stops."""

from __future__ import annotations

import threading
import time

from service.adapters.thumbnailqueue.local import LocalThumbnailQueue


def test_a_full_backlog_drops_instead_of_blocking_and_a_waiting_key_is_not_queued_twice():
    release = threading.Event()
    made: list[str] = []

    def make(key: str) -> None:
        release.wait(10)
        made.append(key)

    queue = LocalThumbnailQueue(workers=1, backlog=2)
    queue.serve(make)
    try:
        assert queue.submit("a")  # the worker takes it and blocks on `release`
        deadline = time.monotonic() + 10
        while queue._queue.qsize():  # until the worker holds "a": the backlog is empty again
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert queue.submit("b") and queue.submit("c")
        assert queue.submit("b")  # already waiting: accepted, not queued again
        assert not queue.submit("d")  # the backlog (2) is full: dropped at once, the caller goes on
        assert not queue.wait(0.05)
        release.set()
        assert queue.wait(10)
        assert made == ["a", "b", "c"]
    finally:
        release.set()
        queue.close()


def test_a_failing_thumbnail_does_not_stop_the_worker():
    made: list[str] = []

    def make(key: str) -> None:
        if key == "bad":
            raise ValueError("broken image")
        made.append(key)

    queue = LocalThumbnailQueue(workers=2, backlog=10)
    queue.serve(make)
    workers = list(queue._threads)
    try:
        for key in ("bad", "good"):
            queue.submit(key)
        assert queue.wait(10) and made == ["good"]
    finally:
        queue.close()
    assert len(workers) == 2 and not any(t.is_alive() for t in workers)
