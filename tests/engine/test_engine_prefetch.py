"""Bounded, ordered prefetch, and listings read page by page."""

from __future__ import annotations

import threading
import time

import pytest
from edna_engine import pipeline, prefetch
from edna_engine.prefetch import Item, Prefetcher, shard_of

from tests.engine.digits import ITEMS, OUT, job, seeded_storage


@pytest.fixture
def storage():
    """120 digits and the logistic-regression model (no conftest.py: tests/api import the root one by name)."""
    return seeded_storage()


class Tracker:
    """A load function that counts the items loaded but not yet consumed."""

    def __init__(self, fail_on: str | None = None):
        self.outstanding = self.peak = 0
        self.lock = threading.Lock()
        self.fail_on = fail_on

    def load(self, key: str) -> Item:
        if key == self.fail_on:
            raise OSError(f"cannot read {key}")
        with self.lock:
            self.outstanding += 1
            self.peak = max(self.peak, self.outstanding)
        return Item(key, None, key)

    def consumed(self) -> None:
        with self.lock:
            self.outstanding -= 1


@pytest.mark.parametrize(("depth", "workers", "chunk"), [(16, 8, 4), (3, 2, 1), (1, 1, 1)])
def test_keeps_order_and_stays_within_its_bound(depth, workers, chunk):
    keys = [f"k{i:04d}" for i in range(300)]
    tracker = Tracker()
    seen = []
    with Prefetcher(iter(keys), tracker.load, depth, workers, chunk) as items:
        for item in items:
            seen.append(item.key)
            time.sleep(0.0005 if len(seen) % 50 == 0 else 0)  # a slow consumer now and then lets the queue fill
            tracker.consumed()
    assert seen == keys
    assert tracker.peak <= depth + (workers + 2) * chunk


def test_a_failed_load_is_raised_in_the_consumer_after_the_items_before_it():
    keys = [f"k{i:04d}" for i in range(100)]
    seen = []
    with pytest.raises(OSError, match="cannot read k0050"), Prefetcher(keys, Tracker("k0050").load, 8, 4, 1) as items:
        seen.extend(item.key for item in items)
    assert seen == keys[:50]


def test_closing_early_stops_the_threads():
    before = threading.active_count()
    with Prefetcher((f"k{i}" for i in range(10_000)), Tracker().load, 8, 4) as items:
        next(iter(items))
    assert threading.active_count() == before


def test_shards_split_keys_stably():
    keys = [f"{ITEMS}{i:05d}/x.png" for i in range(1000)]
    counts = [sum(shard_of(k, 4) == s for k in keys) for s in range(4)]
    assert sum(counts) == 1000 and min(counts) > 200
    assert shard_of("tenants/t/datasets/d/items/i1/a.png", 7) == 1  # crc32: the same on every machine


def test_everything_works_with_small_listing_pages(storage, monkeypatch):
    monkeypatch.setattr(prefetch, "PAGE", 7)
    pages = []
    real = storage.list_page

    def list_page(prefix, start_after=None, token=None, limit=1000):
        keys, token = real(prefix, start_after, token, limit)
        pages.append(len(keys))
        return keys, token

    storage.list_page = list_page
    params = job(shards=2, batch_size=5)
    assert pipeline.plan(storage, params) == [0, 1]
    for shard in (0, 1):
        pipeline.infer_shard(storage, params, shard)
    metrics = pipeline.evaluate(storage, params)
    assert metrics["items"] == 120 and max(pages) == 7
    assert len(storage.lines(OUT + "parts/")) == 120
