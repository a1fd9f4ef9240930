"""Unit vectors and exact ranking: what every VectorIndex adapter computes alike, so that all of them
report the same scores and break ties the same way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

Batch = tuple[Sequence[str], np.ndarray]  # item ids and their (n, dims) float32 vectors
# Rows whose fast float32 score is this close to the k-th best are scored again exactly: two BLAS
# kernels may round the same dot product an ulp apart, which must not decide a tie.
TIE_MARGIN = 1e-5
SCORE_ROWS = 65_536  # rows scored exactly at a time


def unit_batches(batches: Iterable[Batch]) -> Iterator[tuple[list[str], np.ndarray]]:
    """Each batch as (item ids, unit float32 rows), rows with no direction (all zeros, not finite) left
    out; ValueError for a malformed batch or one whose dimensions differ from the first's."""
    dims = None
    for item_ids, matrix in batches:
        item_ids = list(item_ids)
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] < 1:
            raise ValueError(f"vectors must be a 2-D matrix of at least one dimension, not of shape {matrix.shape}")
        if len(item_ids) != len(matrix):
            raise ValueError(f"{len(item_ids)} item ids for {len(matrix)} vectors")
        if dims is None:
            dims = matrix.shape[1]
        elif matrix.shape[1] != dims:
            raise ValueError(f"vectors of {matrix.shape[1]} dimensions in a set of {dims}")
        if not all(isinstance(i, str) and i and "\0" not in i for i in item_ids):
            raise ValueError("item ids must be non-empty strings")
        norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
        kept = np.isfinite(norms) & (norms > 0)
        rows = (matrix[kept] / norms[kept, None]).astype(np.float32)
        yield [i for i, keep in zip(item_ids, kept, strict=True) if keep], rows


def unit(query: np.ndarray, dims: int) -> np.ndarray:
    """The query as a unit float32 vector of the set's dimensions; ValueError otherwise."""
    query = np.asarray(query, dtype=np.float32)
    if query.ndim != 1 or len(query) != dims:
        raise ValueError(f"the query has shape {query.shape}; this set's vectors have {dims} dimensions")
    norm = float(np.linalg.norm(query.astype(np.float64)))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("the query vector has no direction (all zeros or not finite)")
    return (query / norm).astype(np.float32)


def ranked(
    item_ids: np.ndarray, matrix: np.ndarray, rows: np.ndarray, query: np.ndarray, k: int
) -> list[tuple[str, float]]:
    """The k best of the candidate `rows` of `matrix` (their ids in `item_ids`, str or UTF-8 bytes),
    most similar first, ties by item id. Scores are exact: float64 products of the unit float32 rows,
    each row summed alike, so equal rows tie and every adapter reports the same numbers."""
    query = query.astype(np.float64)
    scores = np.empty(len(rows))
    for start in range(0, len(rows), SCORE_ROWS):  # bounded memory however many rows tie
        chunk = matrix[rows[start : start + SCORE_ROWS]].astype(np.float64)
        scores[start : start + SCORE_ROWS] = (chunk * query).sum(axis=1)
    np.clip(scores, -1.0, 1.0, out=scores)  # a float32 unit row is a unit only to ~1e-7
    best = np.lexsort((item_ids, -scores))[:k]
    return [(_text(item_ids[i]), float(scores[i])) for i in best]


def _text(item_id: str | bytes) -> str:
    return item_id.decode() if isinstance(item_id, bytes) else str(item_id)
