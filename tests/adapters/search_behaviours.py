"""The SearchIndex behaviours every document-store backend must show (a suite, collected via subclasses)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from service.adapters.searchindex import (
    SORTS,
    DatasetStats,
    ItemQuery,
    ItemRecord,
    Prediction,
    position_of,
    sort_value,
)
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


def pred(model_id: str, probs: dict[str, float], job_id: str = "j1", finished_at: float = 10.0) -> Prediction:
    """A prediction as a job's part has it: the top class, its probability, the top-1 minus top-2 margin."""
    ranked = sorted(probs.items(), key=lambda kv: (-kv[1], kv[0]))
    margin = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
    return Prediction(model_id, job_id, ranked[0][0], ranked[0][1], round(margin, 6), probs, finished_at)


def attach(index, model_id: str, rows: dict[str, Prediction], job_id: str = "j1", finished_at: float = 10.0) -> int:
    """Attach as a job does: rows as a generator, in the job's id and finish time."""
    return index.attach_predictions("t1", "d1", model_id, job_id, finished_at, ((k, v) for k, v in rows.items()))


def walk(index, query: ItemQuery, limit: int) -> list[ItemRecord]:
    """Every page of a listing, each started at the position of the last record of the one before."""
    found: list[ItemRecord] = []
    after = None
    while page := index.search("t1", query, limit, after):
        assert len(page) <= limit
        found += page
        after = position_of(page[-1], query)
    return found


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

    def test_counts_are_the_listing_s_matches_for_every_filter(self, index):
        index.upsert_many(
            [
                rec("a", label="cat"),
                rec("b", label="cat", status="pending"),
                rec("c", status="pending"),
                rec("d"),
                rec("e", label="dog", content_type="image/jpeg"),
                rec("f", label="cat", dataset_id="d2"),
                rec("g", label="cat", tenant="t2"),
                rec("h", label="cat"),
            ]
        )
        index.delete("t1", "d1", "h", T0 + 2)
        refresh(index)
        for filters in [
            {},
            {"dataset_id": "d1"},
            {"label": "cat"},
            {"dataset_id": "d1", "label": "cat"},
            {"dataset_id": "d1", "unlabeled": True},
            {"dataset_id": "d1", "status": "pending"},
            {"dataset_id": "d1", "status": "available", "label": "cat"},
            {"dataset_id": "d1", "status": "pending", "unlabeled": True},
            {"dataset_id": "d1", "status": "deleted"},
            {"dataset_id": "d1", "label": "cat", "unlabeled": True},
            {"dataset_id": "d1", "content_type": "image/jpeg"},
            {"dataset_id": "d1", "q": "digit", "status": "pending"},
            {"dataset_id": "d3"},
        ]:
            query = ItemQuery(**filters)
            assert index.count("t1", query) == len(index.search("t1", query, 100, None)), filters
        assert index.count("t1", ItemQuery(dataset_id="d1")) == 5

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

    # -- predictions ---------------------------------------------------------------------------

    def test_label_source_round_trips(self, index):
        record = rec("a", label="cat", label_source="person:ann")
        index.upsert(record)
        assert index.get("t1", "d1", "a") == record
        assert index.search("t1", ItemQuery(), 10, None) == [record]

    def test_predictions_come_with_the_item_sorted_by_model_and_outlive_its_upserts(self, index):
        index.upsert_many([rec("a", label="cat"), rec("b"), rec("c", dataset_id="d2"), rec("p", status="pending")])
        index.delete("t1", "d1", "x", T0 + 5)
        m2 = {i: pred("m2", {"cat": 0.7, "dog": 0.2}) for i in ("a", "b", "c", "p", "x", "missing")}
        # Only the dataset's live items take one: not another dataset's, a tombstone's or an unknown id's.
        assert attach(index, "m2", m2) == 3
        assert attach(index, "m1", {"a": pred("m1", {"dog": 0.6, "cat": 0.4})}) == 1
        held = (pred("m1", {"dog": 0.6, "cat": 0.4}), m2["a"])
        assert index.get("t1", "d1", "a").predictions == held
        assert index.get("t1", "d2", "c").predictions == ()
        assert [r.predictions for r in index.search("t1", ItemQuery(dataset_id="d1"), 10, None)] == [
            held,
            (m2["b"],),
            (m2["p"],),
        ]
        # Storage knows nothing of predictions: an item upserted from it keeps what the index holds.
        index.upsert(rec("a", observed=2, label="dog"))
        index.upsert_many([rec("b", observed=2)])
        assert index.get("t1", "d1", "a") == rec("a", observed=2, label="dog", predictions=held)
        assert index.get("t1", "d1", "b").predictions == (m2["b"],)
        assert index.predicted_models("t1", "d1") == {"m1": ("j1", 1), "m2": ("j1", 3)}
        assert index.predicted_models("t1", "d2") == {}
        # A tombstone drops them: an item uploaded again under the id starts without.
        index.delete("t1", "d1", "a", T0 + 3)
        assert index.predicted_models("t1", "d1") == {"m2": ("j1", 2)}
        index.upsert(rec("a", observed=4))
        assert index.get("t1", "d1", "a").predictions == ()

    def test_a_later_job_wins_and_an_earlier_one_loses_what_it_did_not_cover(self, index):
        index.upsert_many([rec("a"), rec("b"), rec("c")])

        def job(job_id: str, finished_at: float, items: str, top: float) -> int:
            rows = {i: pred("m1", {"cat": top, "dog": 1 - top}, job_id, finished_at) for i in items}
            return attach(index, "m1", rows, job_id, finished_at)

        def jobs() -> dict[str, str | None]:
            found = {r.item_id: r.prediction("m1") for r in index.search("t1", ItemQuery(), 10, None)}
            return {i: p and p.job_id for i, p in found.items()}

        assert job("old", 10.0, "abc", 0.6) == 3
        assert job("new", 20.0, "ab", 0.8) == 2
        assert jobs() == {"a": "new", "b": "new", "c": None}  # c: the new job did not cover it
        assert index.predicted_models("t1", "d1") == {"m1": ("new", 2)}
        assert job("new", 20.0, "ab", 0.8) == 2  # again: the same state
        assert jobs() == {"a": "new", "b": "new", "c": None}
        # The older job's event arrives late: it never replaces a later job's prediction.
        assert job("old", 10.0, "abc", 0.6) == 1
        assert jobs() == {"a": "new", "b": "new", "c": "old"}
        assert index.predicted_models("t1", "d1") == {"m1": ("new", 3)}
        assert job("same-time", 20.0, "a", 0.9) == 1  # a tie replaces
        assert index.get("t1", "d1", "a").prediction("m1") == pred(
            "m1", {"cat": 0.9, "dog": 1 - 0.9}, "same-time", 20.0
        )

    def test_delete_dataset_and_sweep_forget_predictions(self, index):
        index.upsert_many([rec("a"), rec("b"), rec("c", dataset_id="d2")])
        attach(index, "m1", {i: pred("m1", {"cat": 0.9}) for i in "ab"})
        index.attach_predictions("t1", "d2", "m1", "j1", 10.0, [("c", pred("m1", {"cat": 0.9}))])
        index.upsert_many([rec("b", observed=20)])
        assert index.sweep("t1", T0 + 10) == 2  # a and c: not observed since the rebuild began
        assert index.predicted_models("t1", "d1") == {"m1": ("j1", 1)}
        assert index.predicted_models("t1", "d2") == {}
        index.delete_dataset("t1", "d1")
        assert index.predicted_models("t1", "d1") == {}

    def test_prediction_filters_and_the_label_they_compare_with(self, index):
        labels = {"a": "cat", "b": "cat", "c": "dog", "d": None, "e": "cat", "f": "dog"}
        index.upsert_many(rec(i, label=label) for i, label in labels.items())
        index.upsert(rec("z", dataset_id="d2", label="cat"))
        attach(
            index,
            "m1",
            {
                "a": pred("m1", {"cat": 0.9, "dog": 0.1}),
                "b": pred("m1", {"dog": 0.6, "cat": 0.4}),
                "c": pred("m1", {"cat": 0.5, "dog": 0.5}),
                "d": pred("m1", {"dog": 0.75, "cat": 0.25}),
                "e": pred("m1", {"cat": 0.6, "bird": 0.4}),
            },
        )
        attach(index, "m2", {"f": pred("m2", {"cat": 0.99})})
        index.attach_predictions("t1", "d2", "m1", "j1", 10.0, [("z", pred("m1", {"dog": 0.8}))])

        def found(**query) -> list[str]:
            return ids(index.search("t1", ItemQuery(**query), 50, None))

        assert found(model_id="m1") == ["a", "b", "c", "d", "e", "z"]
        assert found(model_id="m1", dataset_id="d1") == ["a", "b", "c", "d", "e"]
        assert found(model_id="m2") == ["f"]
        assert found(model_id="m1", predicted="dog") == ["b", "d", "z"]
        assert found(model_id="m1", disagrees=True) == ["b", "c", "z"]  # d: unlabelled; f: not m1's
        assert found(model_id="m1", min_score=0.6) == ["a", "b", "d", "e", "z"]  # bounds are inclusive
        assert found(model_id="m1", min_score=0.5, max_score=0.6) == ["b", "c", "e"]
        assert found(model_id="m1", max_score=0.5) == ["c"]
        assert found(model_id="m1", disagrees=True, min_score=0.55, dataset_id="d1") == ["b"]
        assert found(model_id="m1", label="cat", predicted="cat") == ["a", "e"]
        assert found(model_id="m1", unlabeled=True) == ["d"]
        assert found(model_id="m1", q="digit-b") == ["b"]
        assert found(model_id="m1", predicted="dog", q="digit") == ["b", "d", "z"]
        assert found(model_id="m1", status="pending") == []
        assert found(model_id="nobody") == []
        # A label changed later: `disagrees` follows the item's label, not the one at attach time.
        index.upsert(rec("b", observed=2, label="dog"))
        index.upsert_many([rec("d", observed=2, label="cat"), rec("a", observed=2, label=None)])
        refresh(index)
        assert found(model_id="m1", disagrees=True) == ["c", "d", "z"]
        assert found(model_id="m1", unlabeled=True) == ["a"]

    def test_a_malformed_position_or_a_missing_model_is_a_value_error(self, index):
        index.upsert(rec("a"))
        for sort, after in [
            ("margin", "not json"),
            ("margin", "[0.5]"),
            ("margin", '"ab"'),
            ("margin", '["a", "b"]'),
            ("margin", '[null, "a"]'),
            ("margin", '[true, "a"]'),
            ("name", '[5, "a"]'),
            ("-created_at", '{"a": 1, "b": 2}'),
        ]:
            with pytest.raises(ValueError):
                index.search("t1", ItemQuery(model_id="m1", sort=sort), 10, after)
        for query in (ItemQuery(sort="margin"), ItemQuery(disagrees=True), ItemQuery(min_score=0.5)):
            with pytest.raises(ValueError):
                index.search("t1", query, 10, None)

    def test_every_sort_pages_exactly_over_random_data(self, index):
        """Property: for random items, labels and predictions (ties on purpose), walking the pages of
        every sort, with and without filters and at any page size, gives every matching item exactly
        once, in (value, item_id) order, the value as the port's `sort_value` computes it."""
        rng = random.Random(2024)  # noqa: S311 (test data)
        classes = ["cat", "dog", "bird"]
        truth: dict[str, ItemRecord] = {}
        for n in range(40):
            item_id = f"i{rng.randrange(10_000):04d}-{n}"
            truth[item_id] = rec(
                item_id,
                label=rng.choice([*classes, None]),
                filename=f"{rng.choice(['x', 'y', 'z'])}.png",  # names tie: item_id breaks them
                created_at=T0 + rng.randrange(5),
                size=rng.choice([10, 20, 30]),
            )
        index.upsert_many(truth.values())
        for model_id in ("m1", "m2"):
            rows = {}
            for item_id in rng.sample(sorted(truth), 30):
                probs = {c: rng.choice([0.1, 0.2, 0.3, 0.5]) for c in rng.sample(classes, rng.randrange(1, 4))}
                rows[item_id] = pred(model_id, probs)
            attach(index, model_id, rows)
            for item_id, prediction in rows.items():
                held = (*truth[item_id].predictions, prediction)
                truth[item_id] = dataclasses.replace(truth[item_id], predictions=held)
        for item_id in rng.sample(sorted(truth), 8):  # labels change after the predictions came
            observed = truth[item_id].observed_at + 1
            truth[item_id] = dataclasses.replace(truth[item_id], label=rng.choice(classes), observed_at=observed)
            index.upsert(dataclasses.replace(truth[item_id], predictions=()))
        refresh(index)

        def matching(query: ItemQuery) -> list[ItemRecord]:
            kept = []
            for record in truth.values():
                prediction = record.prediction(query.model_id) if query.model_id else None
                if query.model_id and prediction is None:
                    continue
                if query.disagrees and (record.label is None or prediction.predicted == record.label):
                    continue
                if query.label is not None and record.label != query.label:
                    continue
                if query.unlabeled and record.label is not None:
                    continue
                kept.append(record)
            return kept

        def expected(query: ItemQuery) -> list[str]:
            kept, unlabelled = [], []
            column, descending = SORTS[query.sort]
            for record in matching(query):
                value = sort_value(record, query)
                if value is not None:
                    kept.append((value, record.item_id))
                elif column == "label":  # kept, after every labelled item, whichever the direction
                    unlabelled.append(record.item_id)
            if column == "item_id":
                return sorted(i for _, i in kept)
            ranked = sorted(kept, key=lambda vi: vi[1])
            ranked.sort(key=lambda vi: vi[0], reverse=descending)
            return [i for _, i in ranked] + sorted(unlabelled)

        queries = [ItemQuery(sort=sort, model_id=model) for sort in SORTS for model in ("m1", None)]
        queries = [q for q in queries if q.model_id or q.sort not in ("score", "-score", "margin")]
        queries += [ItemQuery(sort=sort, model_id="m2", disagrees=True) for sort in SORTS]
        queries += [ItemQuery(sort=sort, model_id="m1", label="cat") for sort in ("margin", "mistake", "name")]
        queries += [ItemQuery(sort=sort, unlabeled=True) for sort in ("label", "-label", "-size")]
        queries += [ItemQuery(sort=sort, model_id="m1", label="dog") for sort in ("label", "-label")]
        for query in queries:
            want = expected(query)
            assert want or query.disagrees, query  # the data leaves something to page through
            for limit in (1, 3, 7, 100):
                got = walk(index, query, limit)
                assert ids(got) == want, (query, limit)
            assert got == [truth[i] for i in want]  # records, predictions and all
            assert index.count("t1", query) == len(matching(query)), query  # the filters', whatever the sort

    def test_mistake_ranks_by_the_model_or_the_mean_and_follows_the_label(self, index):
        index.upsert_many([rec("a", label="cat"), rec("b", label="dog"), rec("c", label="cat"), rec("d")])
        attach(index, "m1", {i: pred("m1", {"cat": 0.8, "dog": 0.2}) for i in "abcd"})
        attach(index, "m2", {"a": pred("m2", {"dog": 0.7, "cat": 0.3}), "b": pred("m2", {"dog": 0.9, "cat": 0.1})})

        def ranked(model_id: str | None) -> list[tuple[str, float]]:
            query = ItemQuery(model_id=model_id, sort="mistake")
            return [(r.item_id, sort_value(r, query)) for r in walk(index, query, 2)]

        # a: m1 says -0.6, m2 0.4 (mean -0.1); b: 0.6 and -0.8 (mean -0.1); c: -0.6; d is unlabelled.
        assert ranked("m1") == [("b", 0.6), ("a", -0.6), ("c", -0.6)]
        assert ranked("m2") == [("a", 0.4), ("b", -0.8)]
        assert ranked(None) == [("a", -0.1), ("b", -0.1), ("c", -0.6)]
        index.upsert(rec("c", observed=2, label="dog"))
        index.upsert(rec("d", observed=2, label="dog"))
        assert ranked("m1") == [("b", 0.6), ("c", 0.6), ("d", 0.6), ("a", -0.6)]
        assert ranked(None) == [("c", 0.6), ("d", 0.6), ("a", -0.1), ("b", -0.1)]
