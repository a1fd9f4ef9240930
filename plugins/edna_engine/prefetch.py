"""A shard's items, listed page by page and fetched ahead by a bounded pool, in listing order."""

from __future__ import annotations

import itertools
import queue
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from edna_engine.storage import Storage

PAGE = 1000
CHUNK = 4  # keys per pool task: a quarter of the hand-offs between threads per item


class Item(NamedTuple):
    """One fetched item: its preprocessed array, or why it has none."""

    key: str
    label: str | None
    array: Any  # numpy array, or None when the item could not be decoded
    error: str | None = None


def shard_of(key: str, shards: int) -> int:
    """Which shard a key belongs to: stable across processes and machines (unlike hash())."""
    return zlib.crc32(key.encode()) % shards


def iter_keys(storage: Storage, prefix: str, start_after: str | None = None) -> Iterator[str]:
    """Every object key under `prefix` after `start_after`, one listing page in memory at a time."""
    token = None
    while True:
        keys, token = storage.list_page(prefix, start_after=start_after, token=token, limit=PAGE)
        yield from (k for k in keys if not k.endswith("/"))  # folder markers are not items
        if not token:
            return


def shard_keys(storage: Storage, prefix: str, shards: int, shard: int, start_after: str | None = None) -> Iterator[str]:
    """The keys of one shard, in listing order."""
    keys = iter_keys(storage, prefix, start_after)
    return keys if shards == 1 else (k for k in keys if shard_of(k, shards) == shard)


class _End(NamedTuple):
    error: BaseException | None


class Prefetcher:
    """Runs `load` over `keys` in a small pool and yields the results in order, a bounded number ahead."""

    # At most `depth` loaded items wait in the queue, (workers + 1) * chunk more are loading or loaded
    # in the pool, and the consumer holds one chunk: (workers + 2) * chunk beyond `depth` in all.

    def __init__(
        self, keys: Iterable[str], load: Callable[[str], Item], depth: int, workers: int = 8, chunk: int = CHUNK
    ):
        self._keys = iter(keys)
        self._load = load
        self._workers = max(1, workers)
        self._chunk = max(1, chunk)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth // self._chunk))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edna-prefetch", daemon=True)
        self._thread.start()

    def _put(self, value) -> bool:
        # Time out now and then so that close() can stop a producer blocked on a full queue.
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def _run(self) -> None:
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix="edna-fetch")
        pending: deque = deque()
        error = None
        try:
            while chunk := list(itertools.islice(self._keys, self._chunk)):
                if self._stop.is_set():
                    return
                pending.append(pool.submit(self._load_chunk, chunk))
                # In flight: one chunk per worker and one more, so fetches overlap without running far ahead.
                if len(pending) > self._workers and not self._put(pending.popleft().result()):
                    return
            while pending:
                if not self._put(pending.popleft().result()):
                    return
        except BaseException as e:  # noqa: BLE001 - not swallowed: the consumer re-raises it in its own thread
            error = e
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self._put(_End(error))

    def _load_chunk(self, keys: list[str]) -> list[Item]:
        return [self._load(key) for key in keys]

    def __iter__(self) -> Iterator[Item]:
        while True:
            value = self._queue.get()
            if isinstance(value, _End):
                if value.error is not None:
                    raise value.error
                return
            yield from value

    def close(self) -> None:
        """Stop fetching and wait for the threads."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
