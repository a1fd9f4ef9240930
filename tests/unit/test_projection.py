"""The dataset map's 2-D layout: clusters stay apart, the picture is always the same, coordinates in [0, 1]."""

from __future__ import annotations

import numpy as np

from service.domain.projection import project

DIMS = 32


def stream(vectors: np.ndarray, size: int = 64):
    ids = [f"item-{n:05d}" for n in range(len(vectors))]

    def batches():
        for at in range(0, len(vectors), size):
            yield ids[at : at + size], vectors[at : at + size]

    return batches


def clusters(rng: np.random.Generator, per: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Three tight, far-apart clusters of unit vectors, interleaved in the stream; and each item's cluster."""
    centres = rng.standard_normal((3, DIMS))
    which = np.arange(3 * per) % 3
    rows = centres[which] + 0.05 * rng.standard_normal((3 * per, DIMS))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32), which


def test_well_separated_clusters_stay_apart():
    vectors, which = clusters(np.random.default_rng(1))

    ids, xy = project(stream(vectors), len(vectors))

    assert ids == [f"item-{n:05d}" for n in range(len(vectors))]
    centres = np.stack([xy[which == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(xy[which == c] - centres[c], axis=1).max() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in [(0, 1), (0, 2), (1, 2)]]
    assert min(gaps) > 4 * spread


def test_coordinates_fill_zero_to_one():
    vectors, _ = clusters(np.random.default_rng(2))

    _, xy = project(stream(vectors), len(vectors))

    assert xy.dtype == np.float32 and xy.shape == (len(vectors), 2)
    assert xy.min() >= 0 and xy.max() <= 1
    np.testing.assert_allclose(xy.min(axis=0), [0, 0], atol=1e-6)
    np.testing.assert_allclose(xy.max(axis=0), [1, 1], atol=1e-6)


def test_the_same_vectors_give_the_same_picture():
    vectors, _ = clusters(np.random.default_rng(3))

    _, first = project(stream(vectors), len(vectors))
    _, again = project(stream(vectors), len(vectors))
    _, rebatched = project(stream(vectors, size=1000), 0)  # one batch, and no size given

    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, rebatched, atol=1e-5)


def test_flipped_vectors_give_the_same_picture_up_to_a_mirror_image_of_the_data():
    vectors, _ = clusters(np.random.default_rng(4))

    _, xy = project(stream(vectors), len(vectors))
    _, mirrored = project(stream(-vectors), len(vectors))

    # -x has the same axes; the sign rule keeps them, so the points flip through the middle.
    np.testing.assert_allclose(mirrored, 1 - xy, atol=1e-5)


def test_a_single_point_or_a_single_line_is_drawn_in_the_middle():
    same = np.tile(np.eye(DIMS, dtype=np.float32)[:1], (10, 1))
    line = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)[:, :1]  # one dimension

    _, still = project(stream(same), 10)
    _, flat = project(stream(line), 3)

    np.testing.assert_array_equal(still, np.full((10, 2), 0.5, dtype=np.float32))
    np.testing.assert_allclose(flat[:, 0], [1.0, 0.6, 0.0])
    np.testing.assert_array_equal(flat[:, 1], [0.5, 0.5, 0.5])


def test_no_vectors_no_points():
    ids, xy = project(stream(np.zeros((0, DIMS), dtype=np.float32)), 0)

    assert ids == [] and xy.shape == (0, 2)
