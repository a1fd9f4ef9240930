"""Near-duplicate groups: planted duplicates found exactly, nothing joined below the threshold, bounded work."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.domain import near_duplicates
from service.domain.near_duplicates import find_groups

DIMS = 64


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def at_cosine(source: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine with the unit vector `source` is exactly `cosine`."""
    away = rng.standard_normal(source.size)
    away -= (away @ source) * source
    away /= np.linalg.norm(away)
    return (cosine * source + np.sqrt(1 - cosine**2) * away).astype(np.float32)


def stream(vectors: np.ndarray, ids: list[str] | None = None, size: int = 97):
    """batches() as the vector index gives it: a fresh iterator per call; counts its passes."""
    ids = ids if ids is not None else [f"item-{n:05d}" for n in range(len(vectors))]

    def batches():
        batches.passes += 1
        for at in range(0, len(vectors), size):
            yield ids[at : at + size], vectors[at : at + size]

    batches.passes = 0
    return batches


def exact_groups(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Connected components of the pairs at or above the threshold, from every pair (small inputs only)."""
    close = vectors @ vectors.T >= threshold - near_duplicates.TOLERANCE
    seen, groups = set(), []
    for start in range(len(vectors)):
        if start in seen:
            continue
        found, todo = {start}, [start]
        while todo:
            for other in np.flatnonzero(close[todo.pop()]).tolist():
                if other not in found:
                    found.add(other)
                    todo.append(other)
        seen |= found
        if len(found) > 1:
            groups.append(sorted(found))
    return groups


@pytest.fixture
def planted():
    """500 random vectors; then pairs and triples at cosine 0.96-0.99 to a source, and decoy pairs at
    0.90-0.94 (below a 0.95 threshold)."""
    rng = np.random.default_rng(3)
    vectors = unit(rng.standard_normal((500, DIMS)))
    duplicates = {11: [200], 12: [300], 40: [41], 77: [78, 79], 150: [400, 451]}
    for source, copies in duplicates.items():
        for copy in copies:
            vectors[copy] = at_cosine(vectors[source], rng.uniform(0.96, 0.99), rng)
    for source, decoy in [(5, 6), (90, 91), (120, 460)]:
        vectors[decoy] = at_cosine(vectors[source], rng.uniform(0.90, 0.94), rng)
    expected = [sorted([source, *copies]) for source, copies in duplicates.items()]
    return vectors, expected


def named(groups: list[list[int]]) -> list[list[str]]:
    listed = [[f"item-{n:05d}" for n in group] for group in groups]
    return sorted(listed, key=lambda ids: (-len(ids), ids[0]))


def test_planted_duplicates_are_found_exactly(planted):
    vectors, expected = planted

    groups = find_groups(stream(vectors), 0.95, total=len(vectors))

    assert [ids for ids, _ in groups] == named(expected)
    assert [ids for ids, _ in groups] == named(exact_groups(vectors, 0.95))
    for ids, similarity in groups:
        positions = [int(i.removeprefix("item-")) for i in ids]
        pairs = vectors[positions] @ vectors[positions].T
        assert 0.95 <= similarity <= 1.0
        assert similarity <= pairs[np.triu_indices(len(ids), 1)].max() + 1e-6


def test_nothing_is_joined_below_the_threshold(planted):
    vectors, _ = planted

    for threshold in (0.9, 0.95, 0.97, 0.985):
        groups = find_groups(stream(vectors), threshold, total=len(vectors))
        assert [ids for ids, _ in groups] == named(exact_groups(vectors, threshold)), threshold
        assert all(similarity >= threshold for _, similarity in groups)


def test_the_same_vectors_give_the_same_groups_however_they_are_batched(planted):
    vectors, _ = planted

    first = find_groups(stream(vectors, size=97), 0.95, total=len(vectors))
    again = find_groups(stream(vectors, size=97), 0.95, total=len(vectors))
    rebatched = find_groups(stream(vectors, size=500), 0.95)

    assert first == again == rebatched


def test_equal_vectors_are_duplicates_at_threshold_one():
    rng = np.random.default_rng(5)
    vectors = unit(rng.standard_normal((50, DIMS)))
    vectors[30] = vectors[4]
    vectors[31] = at_cosine(vectors[4], 0.999, rng)

    groups = find_groups(stream(vectors), 1.0)

    assert groups == [(["item-00004", "item-00030"], pytest.approx(1.0, abs=1e-6))]


def spy_on_checks(monkeypatch) -> list[int]:
    """How many pairs reach the exact check, per call (the real check still runs)."""
    checked: list[int] = []
    real = near_duplicates._check

    def counting(vectors, row, i, j, threshold, groups):
        checked.append(i.size)
        real(vectors, row, i, j, threshold, groups)

    monkeypatch.setattr(near_duplicates, "_check", counting)
    return checked


def test_a_large_group_of_very_similar_items_costs_about_one_check_per_item(monkeypatch):
    rng = np.random.default_rng(7)
    centre = unit(rng.standard_normal((1, DIMS)))[0]
    tight = np.stack([at_cosine(centre, rng.uniform(0.985, 0.995), rng) for _ in range(3000)])
    vectors = np.concatenate([tight, unit(rng.standard_normal((2000, DIMS)))])
    checked = spy_on_checks(monkeypatch)

    groups = find_groups(stream(vectors, size=1000), 0.95, total=len(vectors))

    assert [len(ids) for ids, _ in groups] == [3000]
    assert groups[0][1] >= 0.95
    assert sum(checked) < 3 * 3000  # every pair would be 4.5 million


def test_a_loose_cluster_is_not_compared_pair_by_pair(monkeypatch):
    rng = np.random.default_rng(8)
    centre = unit(rng.standard_normal((1, DIMS)))[0]
    loose = np.stack([at_cosine(centre, 0.9, rng) for _ in range(4000)])  # pairs about 0.81 apart
    checked = spy_on_checks(monkeypatch)

    groups = find_groups(stream(loose, size=1000), 0.95, total=len(loose))

    assert groups == []
    assert sum(checked) < 10 * 4000  # every pair would be 8 million


def test_a_small_budget_takes_more_passes_and_finds_the_same_groups(planted):
    vectors, _ = planted
    roomy, tight = stream(vectors), stream(vectors)

    expected = find_groups(roomy, 0.95, total=len(vectors))
    groups = find_groups(tight, 0.95, total=len(vectors), budget=3 * 4 * DIMS)  # three vectors at a time

    assert [ids for ids, _ in groups] == [ids for ids, _ in expected]
    assert roomy.passes == 2
    assert tight.passes > 10


def test_progress_counts_up_to_the_total(planted):
    vectors, _ = planted
    calls: list[tuple[int, int]] = []

    find_groups(stream(vectors), 0.95, lambda done, total: calls.append((done, total)), total=len(vectors))

    assert len(calls) > 3
    assert calls[-1] == (500, 500)
    assert all(total == 500 for _, total in calls)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(calls))


def test_no_vectors_no_groups():
    calls: list[tuple[int, int]] = []

    assert find_groups(stream(np.zeros((0, DIMS), dtype=np.float32)), 0.95, lambda *c: calls.append(c)) == []
    assert calls == [(0, 0)]


@pytest.mark.parametrize("threshold", [0.5, 0.79, 1.01])
def test_thresholds_outside_near_duplicates_are_refused(threshold):
    with pytest.raises(ValueError, match=r"between 0\.8 and 1"):
        find_groups(stream(np.zeros((0, DIMS), dtype=np.float32)), threshold)


def test_vectors_that_change_between_passes_fail_the_pass(planted):
    vectors, _ = planted
    ids = [f"item-{n:05d}" for n in range(len(vectors))]
    passes = iter([ids, ids[1:]])  # an item removed after the first pass

    def batches():
        now = next(passes)
        yield now, vectors[: len(now)]

    with pytest.raises(RuntimeError, match="changed during the pass"):
        find_groups(batches, 0.95, total=len(vectors))


@pytest.mark.parametrize("threshold", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("items", [100, 10_000, 1_000_000])
def test_tables_keep_a_pair_at_the_threshold_with_the_recall_promised(threshold, items):
    bits, tables = near_duplicates.tables_for(threshold, items)
    together = (1 - np.arccos(threshold) / np.pi) ** bits

    assert 1 - (1 - together) ** tables >= near_duplicates.RECALL
    assert 1 - (1 - together) ** (tables - 1) < near_duplicates.RECALL or tables == 1
