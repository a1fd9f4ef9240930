"""The VectorIndex behaviours every backend must show (a suite, collected via subclasses).

Each subclass provides an `index` fixture (a fresh, empty index) and `rebuilt(index)`: the backing
store deleted, and a new adapter over the same place.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.adapters.vectorindex import VectorIndex, VectorSet

DIMS = 8
T0 = 1_700_000_000.0


def item(n: int) -> str:
    return f"i{n:04d}"


def matrix(count: int, seed: int, dims: int = DIMS) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dims)).astype(np.float32)


def batches(ids: list[str], rows: np.ndarray, size: int = 7) -> list[tuple[list[str], np.ndarray]]:
    return [(ids[s : s + size], rows[s : s + size]) for s in range(0, len(ids), size)]


def load(
    index: VectorIndex,
    ids: list[str],
    rows: np.ndarray,
    tenant: str = "t1",
    dataset: str = "d1",
    model: str = "m1",
    job: str = "j1",
    finished: float = 10.0,
) -> int:
    return index.replace(tenant, dataset, model, job, T0 + finished, iter(batches(ids, rows)))


def truth(ids: list[str], rows: np.ndarray, query: np.ndarray, k: int, exclude=()) -> list[tuple[str, float]]:
    """Brute force in float64 over the normalised rows: the exact neighbours, ties by item id."""
    unit = rows.astype(np.float64) / np.linalg.norm(rows.astype(np.float64), axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    ranked = sorted((-s, i) for s, i in zip(scores, ids, strict=True) if i not in exclude)
    return [(i, -s) for s, i in ranked[:k]]


def same(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [i for i, _ in found] == [i for i, _ in expected]
    assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-6)


def scanned(index: VectorIndex, tenant="t1", dataset="d1", model="m1", batch=8192) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for ids, rows in index.scan(tenant, dataset, model, batch):
        assert len(ids) == len(rows) <= batch and rows.dtype == np.float32
        for i, row in zip(ids, rows, strict=True):
            assert i not in found  # every live vector once
            found[i] = row
    return found


class VectorBehaviours:
    """The port's promises; each subclass provides `index` and `rebuilt`."""

    def rebuilt(self, index: VectorIndex) -> VectorIndex:
        raise NotImplementedError

    def test_nearest_is_exact_on_a_fixed_set(self, index):
        ids, rows = [item(n) for n in range(120)], matrix(120, 1)
        assert load(index, ids, rows) == 120
        for seed in range(8):
            query = matrix(1, 100 + seed)[0] * 3.5  # any length: the index normalises it
            same(index.nearest("t1", "d1", "m1", query, 10), truth(ids, rows, query, 10))
        for score in (s for _, s in index.nearest("t1", "d1", "m1", rows[0], 120)):
            assert -1.0 <= score <= 1.0
        assert index.nearest("t1", "d1", "m1", rows[5], 1)[0] == (ids[5], pytest.approx(1.0))

    def test_k_beyond_the_set_gives_every_item(self, index):
        ids, rows = [item(n) for n in range(15)], matrix(15, 2)
        load(index, ids, rows)
        same(index.nearest("t1", "d1", "m1", rows[3], 50), truth(ids, rows, rows[3], 50))

    def test_ties_are_ordered_by_item_id(self, index):
        rows = matrix(40, 3)
        twin = rows[0]
        # Identical rows scattered through the batches, named out of order.
        for at, n in ((5, 0), (17, 0), (23, 0), (31, 0), (38, 0)):
            rows[at] = twin * (1 + n)
        ids = [item(n) for n in range(40)]
        shuffled = ids[::-1]  # ids in descending order: the ties' order must come from their ids
        load(index, shuffled, rows)
        tied = sorted(shuffled[at] for at in (0, 5, 17, 23, 31, 38))
        found = index.nearest("t1", "d1", "m1", twin, 4)
        assert [i for i, _ in found] == tied[:4]
        assert len({s for _, s in found}) == 1  # equal vectors, equal scores
        assert [i for i, _ in index.nearest("t1", "d1", "m1", twin, 6)] == tied

    def test_exclude_leaves_items_out(self, index):
        ids, rows = [item(n) for n in range(30)], matrix(30, 4)
        load(index, ids, rows)
        gone = {ids[0], ids[7], "not-there"}
        same(index.nearest("t1", "d1", "m1", rows[0], 5, exclude=gone), truth(ids, rows, rows[0], 5, gone))

    def test_filters_by_tenant_and_dataset_never_leak(self, index):
        """The same item ids and model in two tenants and two datasets, each with its own vectors."""
        ids = [item(n) for n in range(25)]
        scopes = {("t1", "d1"): matrix(25, 10), ("t1", "d2"): matrix(25, 11), ("t2", "d1"): matrix(25, 12)}
        for n, ((tenant, dataset), rows) in enumerate(scopes.items()):
            load(index, ids, rows, tenant=tenant, dataset=dataset, job=f"j{n}")
        query = matrix(1, 99)[0]
        for (tenant, dataset), rows in scopes.items():
            same(index.nearest(tenant, dataset, "m1", query, 25), truth(ids, rows, query, 25))
            assert index.vector(tenant, dataset, "m1", ids[3]) == pytest.approx(rows[3] / np.linalg.norm(rows[3]))
            assert set(scanned(index, tenant, dataset)) == set(ids)
        assert index.nearest("t2", "d2", "m1", query, 5) == []
        assert index.nearest("t1", "d1", "m2", query, 5) == []
        assert index.sets("t2", "d2") == {} and set(index.sets("t1", "d2")) == {"m1"}

    def test_sets_tell_job_count_and_dims(self, index):
        ids, rows = [item(n) for n in range(12)], matrix(12, 5)
        load(index, ids, rows, model="m1", job="j1", finished=10)
        load(index, ids[:5], matrix(5, 6, dims=3), model="m2", job="j2", finished=20)
        assert index.sets("t1", "d1") == {
            "m1": VectorSet("m1", "j1", T0 + 10, 12, DIMS),
            "m2": VectorSet("m2", "j2", T0 + 20, 5, 3),
        }
        assert index.info("t1", "d1", "m2") == VectorSet("m2", "j2", T0 + 20, 5, 3)
        assert index.info("t1", "d1", "m3") is None and index.info("t1", "d9", "m1") is None

    def test_vector_is_the_unit_row(self, index):
        ids, rows = [item(n) for n in range(10)], matrix(10, 7)
        load(index, ids, rows)
        found = index.vector("t1", "d1", "m1", ids[4])
        assert found.dtype == np.float32 and found.shape == (DIMS,)
        assert found == pytest.approx(rows[4] / np.linalg.norm(rows[4]), abs=1e-7)
        assert index.vector("t1", "d1", "m1", "nope") is None
        assert index.vector("t1", "d1", "m2", ids[4]) is None

    def test_removed_items_disappear_from_every_model(self, index):
        ids, rows = [item(n) for n in range(20)], matrix(20, 8)
        load(index, ids, rows, model="m1")
        load(index, ids, matrix(20, 9, dims=3), model="m2", job="j2")
        load(index, ids, rows, dataset="d2", job="j3")  # the same ids elsewhere stay
        gone = {ids[0], ids[1], ids[2]}
        index.remove_items("t1", "d1", [ids[0], ids[1], ids[2], ids[1], "never-there"])
        found = [i for i, _ in index.nearest("t1", "d1", "m1", rows[0], 20)]
        assert found == [i for i, _ in truth(ids, rows, rows[0], 20, gone)]
        assert index.vector("t1", "d1", "m1", ids[0]) is None and index.vector("t1", "d1", "m2", ids[1]) is None
        assert set(scanned(index, model="m2")) == set(ids) - gone
        assert {m: s.count for m, s in index.sets("t1", "d1").items()} == {"m1": 17, "m2": 17}
        assert index.info("t1", "d2", "m1").count == 20 and index.vector("t1", "d2", "m1", ids[0]) is not None
        index.remove_items("t1", "d1", [ids[0]])  # again: nothing changes
        assert index.info("t1", "d1", "m1").count == 17

    def test_removed_items_stay_out_of_a_later_job(self, index):
        ids, rows = [item(n) for n in range(10)], matrix(10, 13)
        load(index, ids, rows)
        index.remove_items("t1", "d1", [ids[2]])
        assert load(index, ids, rows, job="j2", finished=20) == 9
        assert ids[2] not in scanned(index) and index.vector("t1", "d1", "m1", ids[2]) is None

    def test_remove_dataset_and_tenant(self, index):
        ids, rows = [item(n) for n in range(10)], matrix(10, 14)
        for tenant, dataset in (("t1", "d1"), ("t1", "d2"), ("t2", "d1")):
            load(index, ids, rows, tenant=tenant, dataset=dataset)
        index.remove_dataset("t1", "d1")
        assert index.sets("t1", "d1") == {} and index.nearest("t1", "d1", "m1", rows[0], 3) == []
        assert index.vector("t1", "d1", "m1", ids[0]) is None and scanned(index) == {}
        assert index.info("t1", "d2", "m1").count == 10 and index.info("t2", "d1", "m1").count == 10
        index.remove_tenant("t1")
        assert index.sets("t1", "d2") == {} and index.nearest("t1", "d2", "m1", rows[0], 3) == []
        same(index.nearest("t2", "d1", "m1", rows[0], 3), truth(ids, rows, rows[0], 3))
        assert load(index, ids, rows) == 10  # a reindex loads the tenant again
        assert len(scanned(index)) == 10

    def test_removal_records_go_with_the_tenant(self, index):
        """remove_tenant starts over: a reindex loads what the jobs' parts hold."""
        ids, rows = [item(n) for n in range(6)], matrix(6, 15)
        load(index, ids, rows)
        index.remove_items("t1", "d1", [ids[0]])
        index.remove_tenant("t1")
        assert load(index, ids, rows) == 6

    def test_a_later_job_wins_and_an_older_one_is_ignored(self, index):
        ids, old, new = [item(n) for n in range(12)], matrix(12, 16), matrix(10, 17)
        assert load(index, ids[:10], new, job="j-late", finished=20) == 10
        assert load(index, ids, old, job="j-early", finished=10) == 0
        assert index.info("t1", "d1", "m1") == VectorSet("m1", "j-late", T0 + 20, 10, DIMS)
        same(index.nearest("t1", "d1", "m1", new[0], 10), truth(ids[:10], new, new[0], 10))
        # The same finish time: the greater job id wins, whichever comes first.
        assert load(index, ids, old, job="j-a", finished=20) == 0
        newest = matrix(4, 18)
        assert load(index, ids[8:], newest, job="j-newest", finished=30) == 4
        assert set(scanned(index)) == set(ids[8:])  # items only the older job named are gone
        assert index.vector("t1", "d1", "m1", ids[0]) is None

    def test_the_same_call_again_gives_the_same_set(self, index):
        ids, rows = [item(n) for n in range(30)], matrix(30, 19)
        load(index, ids, rows)
        before = (index.sets("t1", "d1"), index.nearest("t1", "d1", "m1", rows[1], 7), scanned(index))
        assert load(index, ids, rows) == 30
        after = (index.sets("t1", "d1"), index.nearest("t1", "d1", "m1", rows[1], 7), scanned(index))
        assert before[:2] == after[:2]
        assert before[2].keys() == after[2].keys()
        assert all(np.array_equal(before[2][i], after[2][i]) for i in ids)

    def test_scan_gives_every_live_vector_once_in_batches(self, index):
        ids, rows = [item(n) for n in range(50)], matrix(50, 20)
        load(index, ids, rows)
        index.remove_items("t1", "d1", [ids[9]])
        found = scanned(index, batch=8)
        assert set(found) == set(ids) - {ids[9]}
        for n in (0, 17, 49):
            assert np.array_equal(found[ids[n]], index.vector("t1", "d1", "m1", ids[n]))
        order = [i for batch, _ in index.scan("t1", "d1", "m1", 8) for i in batch]
        assert order == [i for batch, _ in index.scan("t1", "d1", "m1", 8) for i in batch]  # stable
        assert list(index.scan("t1", "d1", "m9")) == []

    def test_dimensions_that_do_not_match_are_refused(self, index):
        ids, rows = [item(n) for n in range(10)], matrix(10, 21)
        load(index, ids, rows)
        with pytest.raises(ValueError, match="dimensions"):
            index.nearest("t1", "d1", "m1", np.ones(DIMS + 1, dtype=np.float32), 3)
        with pytest.raises(ValueError, match="no direction"):
            index.nearest("t1", "d1", "m1", np.zeros(DIMS, dtype=np.float32), 3)
        with pytest.raises(ValueError, match="k must"):
            index.nearest("t1", "d1", "m1", rows[0], 0)
        mixed = [(ids[:5], rows[:5]), (ids[5:], matrix(5, 22, dims=DIMS + 2))]
        with pytest.raises(ValueError, match="dimensions"):
            index.replace("t1", "d1", "m1", "j2", T0 + 20, iter(mixed))
        with pytest.raises(ValueError, match="item ids"):
            index.replace("t1", "d1", "m1", "j2", T0 + 20, [(ids[:4], rows[:5])])
        # The set held before the refused loads is whole.
        assert index.info("t1", "d1", "m1").job_id == "j1"
        same(index.nearest("t1", "d1", "m1", rows[0], 10), truth(ids, rows, rows[0], 10))

    def test_rows_with_no_direction_are_skipped(self, index):
        ids, rows = [item(n) for n in range(12)], matrix(12, 23)
        rows[[2, 7]] = 0.0  # a failed line's row
        rows[9, 0] = np.nan
        assert load(index, ids, rows) == 9
        live = [i for n, i in enumerate(ids) if n not in (2, 7, 9)]
        assert set(scanned(index)) == set(live)
        assert index.vector("t1", "d1", "m1", ids[2]) is None
        kept = np.delete(rows, [2, 7, 9], axis=0)
        same(index.nearest("t1", "d1", "m1", rows[0], 12), truth(live, kept, rows[0], 12))

    def test_a_set_with_no_vectors(self, index):
        assert index.replace("t1", "d1", "m1", "j1", T0, iter([])) == 0
        assert index.info("t1", "d1", "m1") == VectorSet("m1", "j1", T0, 0, 0)
        assert index.nearest("t1", "d1", "m1", np.ones(DIMS), 3) == [] and list(index.scan("t1", "d1", "m1")) == []
        ids, rows = [item(n) for n in range(3)], np.zeros((3, DIMS), dtype=np.float32)
        assert load(index, ids, rows, job="j2", finished=5) == 0  # older: ignored
        assert load(index, ids, rows, job="j3", finished=20) == 0
        assert index.info("t1", "d1", "m1") == VectorSet("m1", "j3", T0 + 20, 0, DIMS)

    def test_an_item_named_twice_keeps_its_last_vector(self, index):
        ids, rows = [item(n) for n in range(10)], matrix(10, 24)
        again = matrix(1, 25)
        assert index.replace("t1", "d1", "m1", "j1", T0, iter([(ids, rows), ([ids[3]], again)])) == 10
        assert index.vector("t1", "d1", "m1", ids[3]) == pytest.approx(again[0] / np.linalg.norm(again[0]), abs=1e-7)
        assert index.nearest("t1", "d1", "m1", again[0], 1)[0][0] == ids[3]

    def test_vectors_rebuilt_identical_after_deleting_the_index(self, index):
        ids, rows = [item(n) for n in range(60)], matrix(60, 26)
        load(index, ids, rows)
        load(index, ids[:20], matrix(20, 27, dims=3), model="m2", job="j2")
        queries = matrix(5, 28)
        before = [index.nearest("t1", "d1", "m1", q, 10) for q in queries]
        before_sets, before_scan = index.sets("t1", "d1"), scanned(index)
        fresh = self.rebuilt(index)
        assert fresh.sets("t1", "d1") == {} and fresh.nearest("t1", "d1", "m1", queries[0], 3) == []
        load(fresh, ids, rows)
        load(fresh, ids[:20], matrix(20, 27, dims=3), model="m2", job="j2")
        assert [fresh.nearest("t1", "d1", "m1", q, 10) for q in queries] == before
        assert fresh.sets("t1", "d1") == before_sets
        after_scan = scanned(fresh)
        assert after_scan.keys() == before_scan.keys()
        assert all(np.array_equal(after_scan[i], before_scan[i]) for i in ids)
