"""The SearchIndex behaviours every document-store backend must show (a suite, collected via subclasses)."""

from __future__ import annotations

import dataclasses
import random

from service.adapters.searchindex import DatasetStats, ItemQuery, ItemRecord
from service.adapters.searchindex.opensearch import DocumentSearchIndex

T0 = 1_700_000_000.0


def rec(item_id: str, observed: float = 1.0, tenant: str = "t1", **changes) -> ItemRecord:
    base = ItemRecord(
        tenant=tenant,
        dataset_id="d1",
        item_id=item_id,
        filename=f"digit-{item_id}.png",
        content_type="image/png",
        size=100,
        status="available",
        created_at=T0,
        created_by="ann",
        tags={"source": "scanner"},
        observed_at=T0 + observed,
    )
    return dataclasses.replace(base, **changes)


def refresh(index) -> None:
    """Make bulk writes visible where the backend needs it (a document store); SQLite needs nothing."""
    if isinstance(index, DocumentSearchIndex):
        index.client.indices.refresh(index=index.index)


def ids(records: list[ItemRecord]) -> list[str]:
    return [r.item_id for r in records]


class Behaviours:
    """The port's promises; each subclass provides an `index` fixture with a fresh, empty index."""

    def test_upsert_then_get_round_trips_and_is_scoped(self, index):
        record = rec("a", label="seven", tags={"k": "v", "ü": "x y"}, width=8, height=8)
        assert index.upsert(record) is True
        assert index.get("t1", "d1", "a") == record
        assert index.get("t1", "other", "a") is None
        assert index.get("t2", "d1", "a") is None
        assert index.get("t1", "d1", "missing") is None

    def test_same_record_twice_is_idempotent(self, index):
        assert index.upsert(rec("a")) and index.upsert(rec("a"))
        assert index.get("t1", "d1", "a") == rec("a")
        assert ids(index.search("t1", ItemQuery(), 10, None)) == ["a"]

    def test_older_observation_after_newer_is_ignored(self, index):
        assert index.upsert(rec("a", observed=2, label="new"))
        assert index.upsert(rec("a", observed=1, label="old")) is False
        assert index.get("t1", "d1", "a").label == "new"

    def test_tombstone_blocks_an_older_upsert_not_a_newer_one(self, index):
        index.upsert(rec("a", observed=1))
        assert index.delete("t1", "d1", "a", T0 + 2) is True
        assert index.get("t1", "d1", "a") is None
        assert index.search("t1", ItemQuery(), 10, None) == []
        assert index.upsert(rec("a", observed=1.5)) is False
        assert index.get("t1", "d1", "a") is None
        assert index.upsert(rec("a", observed=3)) is True
        assert index.get("t1", "d1", "a") == rec("a", observed=3)

    def test_delete_older_than_the_indexed_state_is_ignored(self, index):
        index.upsert(rec("a", observed=5))
        assert index.delete("t1", "d1", "a", T0 + 4) is False
        assert index.get("t1", "d1", "a") == rec("a", observed=5)

    def test_delete_arriving_before_its_upsert_still_wins(self, index):
        assert index.delete("t1", "d1", "a", T0 + 2) is True
        assert index.upsert(rec("a", observed=1)) is False
        assert index.search("t1", ItemQuery(), 10, None) == []

    def test_pages_by_item_id_with_search_after(self, index):
        wanted = [f"i{n:02d}" for n in range(11)]
        for item_id in random.sample(wanted, len(wanted)):
            index.upsert(rec(item_id))
        index.upsert(rec("zz", tenant="t2"))
        pages, after = [], None
        while page := index.search("t1", ItemQuery(dataset_id="d1"), 4, after):
            pages.append(ids(page))
            after = page[-1].item_id
        assert pages == [wanted[0:4], wanted[4:8], wanted[8:]]
        assert index.search("t1", ItemQuery(), 0, None) == []

    def test_filters_and_full_text(self, index):
        index.upsert(rec("a", label="cat", tags={"colour": "ginger"}))
        index.upsert(rec("b", label="dog", content_type="image/jpeg", filename="photo_2024.JPG"))
        index.upsert(rec("c", status="pending"))
        index.upsert(rec("d", dataset_id="d2", label="cat"))
        index.upsert(rec("e"))
        index.delete("t1", "d1", "e", T0 + 2)

        def found(**query) -> list[str]:
            return ids(index.search("t1", ItemQuery(**query), 50, None))

        assert found() == ["a", "b", "c", "d"]
        assert found(dataset_id="d1") == ["a", "b", "c"]
        assert found(label="cat") == ["a", "d"]
        assert found(dataset_id="d1", unlabeled=True) == ["c"]
        assert found(status="pending") == ["c"]
        assert found(status="deleted") == []
        assert found(content_type="image/jpeg") == ["b"]
        assert found(q="digit-a") == ["a"]
        assert found(q="digit") == ["a", "c", "d"]
        assert found(q="DIG") == ["a", "c", "d"]
        assert found(q="png", dataset_id="d2") == ["d"]
        assert found(q="ginger") == ["a"]
        assert found(q="colour") == ["a"]
        assert found(q="photo 2024 jp") == ["b"]
        assert found(q="cat") == ["a", "d"]
        assert found(q="cat dog") == []

    def test_stats_count_available_items_only(self, index):
        index.upsert(rec("a", label="cat", size=10))
        index.upsert(rec("b", label="cat", size=20))
        index.upsert(rec("c", label="dog", size=30))
        index.upsert(rec("d", size=40))
        index.upsert(rec("e", status="pending", label="cat", size=1000))
        index.upsert(rec("f", dataset_id="d2", label="cat", size=1000))
        index.upsert(rec("g", tenant="t2", label="cat", size=1000))
        index.upsert(rec("h", label="cat", size=1000))
        index.delete("t1", "d1", "h", T0 + 2)
        assert index.stats("t1", "d1") == DatasetStats(4, 100, {"cat": 2, "dog": 1})
        assert index.stats("t1", "nothing") == DatasetStats(0, 0, {})

    def test_upsert_many_counts_what_it_applied(self, index):
        index.upsert(rec("b", observed=5, label="newer"))
        records = [rec("a", observed=1), rec("b", observed=2), rec("c", observed=1), rec("a", observed=1)]
        assert index.upsert_many(iter(records)) == 3
        assert index.upsert_many([]) == 0
        refresh(index)
        assert ids(index.search("t1", ItemQuery(), 10, None)) == ["a", "b", "c"]
        assert index.get("t1", "d1", "b").label == "newer"

    def test_delete_dataset_returns_pending_and_forgets_everything(self, index):
        index.upsert(rec("a"))
        index.upsert(rec("b", status="pending", upload_id="up-1"))
        index.upsert(rec("c", dataset_id="d2"))
        index.delete("t1", "d1", "x", T0 + 1)
        # Written in bulk without refresh: delete_dataset must still see it.
        index.upsert_many([rec("d", status="pending")])
        assert ids(index.delete_dataset("t1", "d1")) == ["b", "d"]
        assert index.search("t1", ItemQuery(dataset_id="d1"), 10, None) == []
        assert index.get("t1", "d1", "a") is None
        assert ids(index.search("t1", ItemQuery(), 10, None)) == ["c"]
        assert index.delete_dataset("t1", "d1") == []

    def test_sweep_forgets_what_a_rebuild_did_not_see(self, index):
        index.upsert(rec("old", observed=1))
        index.upsert(rec("old-pending", observed=1, status="pending"))
        index.delete("t1", "d1", "gone", T0 + 1)
        index.upsert(rec("other-tenant", observed=1, tenant="t2"))
        started = T0 + 10
        index.upsert_many([rec("seen", observed=11)])
        index.delete("t1", "d1", "deleted-since", T0 + 12)
        index.upsert_many([rec("old-bulk", observed=1)])  # not yet refreshed: the sweep must see it
        assert index.sweep("t1", started) == 3
        assert ids(index.search("t1", ItemQuery(), 10, None)) == ["old-pending", "seen"]
        assert index.upsert(rec("deleted-since", observed=11)) is False
        assert ids(index.search("t2", ItemQuery(), 10, None)) == ["other-tenant"]
        assert index.tenants() == ["t1", "t2"]

    def test_ensure_index_is_idempotent(self, index):
        assert index.ensure_index() is False
