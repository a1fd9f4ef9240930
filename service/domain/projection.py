"""A 2-D layout of a set's vectors for the dataset map: principal component analysis, streamed in two passes.

Pass 1 sums the vectors and their outer products (a D x D matrix, in float64), so the covariance comes
without holding the vectors; its two leading eigenvectors are the axes. Pass 2 projects each batch onto
them. Memory: the D x D matrix and the (n, 2) result. Each axis's sign is fixed (its largest component
positive) and each coordinate scaled to [0, 1], so the same vectors always give the same picture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

Batches = Callable[[], Iterator[tuple[list[str], np.ndarray]]]

FLAT = 1e-12  # an axis spanning less than this is a single point: it is drawn in the middle


def project(batches: Batches, total: int) -> tuple[list[str], np.ndarray]:
    """(item ids in the stream's order, (n, 2) float32 coordinates in [0, 1]); `total` is the expected
    item count, which sizes the result (more or fewer items are fine)."""
    axes, mean = _axes(batches)
    ids: list[str] = []
    xy = np.empty((max(total, 0), 2), dtype=np.float32)
    if axes is None:
        return ids, xy[:0]
    for batch_ids, vectors in batches():
        if not len(batch_ids):
            continue
        at = len(ids)
        if at + len(batch_ids) > len(xy):  # more items than expected: grow, as a list would
            xy = np.resize(xy, (max(2 * len(xy), at + len(batch_ids)), 2))
        xy[at : at + len(batch_ids)] = (np.asarray(vectors, dtype=np.float64) - mean) @ axes
        ids.extend(batch_ids)
    xy = xy[: len(ids)]
    if ids:
        low, high = xy.min(axis=0), xy.max(axis=0)
        span = high - low
        flat = span < FLAT
        xy[:] = np.where(flat, 0.5, (xy - low) / np.where(flat, 1.0, span))
    return ids, xy


def _axes(batches: Batches) -> tuple[np.ndarray | None, np.ndarray]:
    """Pass 1: the (D, 2) leading principal axes (a zero column when D < 2) and the mean vector."""
    count, total, products = 0, None, None
    for batch_ids, vectors in batches():
        if not len(batch_ids):
            continue
        rows = np.asarray(vectors, dtype=np.float64)
        if total is None:
            total, products = np.zeros(rows.shape[1]), np.zeros((rows.shape[1], rows.shape[1]))
        count += len(rows)
        total += rows.sum(axis=0)
        products += rows.T @ rows
    if total is None:
        return None, np.zeros(0)
    mean = total / count
    _, vectors = np.linalg.eigh(products / count - np.outer(mean, mean))
    axes = np.zeros((len(mean), 2))
    leading = vectors[:, ::-1][:, :2]  # eigh orders eigenvalues ascending
    for column in range(leading.shape[1]):
        axis = leading[:, column]
        # An eigenvector's sign is arbitrary: its largest component made positive, the picture never flips.
        axes[:, column] = -axis if axis[np.abs(axis).argmax()] < 0 else axis
    return axes, mean
