"""The local thumbnail queues (in memory; SQLite, the production server's handover): bounded, never
block the caller, drain, and stop."""

from __future__ import annotations

import threading
import time

import pytest

from service.adapters.thumbnailqueue.local import LocalThumbnailQueue
from service.adapters.thumbnailqueue.sqlite import SqliteThumbnailQueue


@pytest.fixture(params=["memory", "sqlite"])
def queue_of(request, tmp_path):
    """`queue_of(workers, backlog)`, and how many keys wait in it."""
    if request.param == "memory":
        return LocalThumbnailQueue, lambda q: q._queue.qsize()

    def made(workers: int, backlog: int) -> SqliteThumbnailQueue:
        return SqliteThumbnailQueue(tmp_path / "thumbnails.db", workers, backlog)

    return made, lambda q: q._db.execute("SELECT count(*) FROM waiting").fetchone()[0]


def test_a_full_backlog_drops_instead_of_blocking_and_a_waiting_key_is_not_queued_twice(queue_of):
    make_queue, waiting = queue_of
    release = threading.Event()
    made: list[str] = []

    def make(key: str) -> None:
        release.wait(10)
        made.append(key)

    queue = make_queue(1, 2)
    queue.serve(make)
    try:
        assert queue.submit("a")  # the worker takes it and blocks on `release`
        deadline = time.monotonic() + 10
        while waiting(queue):  # until the worker holds "a": the backlog is empty again
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


def test_a_failing_thumbnail_does_not_stop_the_worker(queue_of):
    make_queue, _ = queue_of
    made: list[str] = []

    def make(key: str) -> None:
        if key == "bad":
            raise ValueError("broken image")
        made.append(key)

    queue = make_queue(2, 10)
    queue.serve(make)
    workers = list(queue._threads)
    try:
        for key in ("bad", "good"):
            queue.submit(key)
        assert queue.wait(10) and made == ["good"]
    finally:
        queue.close()
    assert len(workers) == 2 and not any(t.is_alive() for t in workers)


def test_keys_queued_by_another_process_are_made_here(tmp_path):
    """The production server's handover: workers only submit, the runner's threads make."""
    path = tmp_path / "thumbnails.db"
    worker, runner = SqliteThumbnailQueue(path, 1, 10), SqliteThumbnailQueue(path, 2, 10)
    made: list[str] = []
    runner.serve(made.append)
    try:
        for key in ("a", "b", "c"):
            assert worker.submit(key)
        assert worker.wait(10) and runner.wait(10)
        assert sorted(made) == ["a", "b", "c"]
    finally:
        runner.close()
