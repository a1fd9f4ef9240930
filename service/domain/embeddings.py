"""Embeddings as item facts: a succeeded job's vector parts loaded into the vector index.

As with predictions, the parts in storage are the truth and the index is derived: each (dataset,
model) holds the vectors of its latest succeeded job, a job's status write attaches them, and
`rebuild` loads them all again.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator

import numpy as np

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.vectorindex import VectorIndex
from service.domain.finished_jobs import FinishedJobListener
from service.vocabulary import layout

log = logging.getLogger("edna.embeddings")


def read_matrix(data: bytes) -> np.ndarray:
    """A vector part's float32 (lines, dims) matrix; anything else is refused (no pickles)."""
    matrix = np.load(io.BytesIO(data), allow_pickle=False)
    if matrix.ndim != 2 or matrix.dtype != np.float32:
        raise ValueError(f"a vector part must hold a float32 matrix, not {matrix.dtype} {matrix.shape}")
    return matrix


class Embeddings(FinishedJobListener):
    def __init__(self, blobs: BlobStore, vectors: VectorIndex):
        super().__init__(blobs)
        self.vectors = vectors

    def _finished(self, tenant: str, job_id: str) -> tuple[dict, float] | None:
        """(job record, finish time) of a succeeded job that wrote vectors; None for any other job."""
        found = self.succeeded(tenant, job_id)
        if found is None:
            return None
        if not self.blobs.list_page(layout.job_vectors_prefix(tenant, job_id), limit=1).objects:
            return None
        return found

    def attach(self, tenant: str, job_id: str) -> int:
        """Load a succeeded job's vectors as its (dataset, model)'s set; how many (0 if none or outdated)."""
        found = self._finished(tenant, job_id)
        if found is None:
            return 0
        record, finished_at = found
        # Items deleted since the job ran are still in its parts: their tombstones keep them out.
        gone = layout.tombstones_prefix(tenant, record["dataset_id"])
        self.vectors.remove_items(
            tenant, record["dataset_id"], (o.key[len(gone) :] for o in self.blobs.iter_objects(gone))
        )
        batches = self._batches(tenant, job_id, record["params"]["output_prefix"])
        count = self.vectors.replace(tenant, record["dataset_id"], record["model_id"], job_id, finished_at, batches)
        log.info("job %s: %d vectors of model %s loaded", job_id, count, record["model_id"])
        return count

    def _batches(self, tenant: str, job_id: str, output_prefix: str) -> Iterator[tuple[list[str], np.ndarray]]:
        """(item ids, vectors) part by part: the lines of each prediction part and the rows beside them."""
        for part in self.blobs.iter_objects(layout.job_vectors_prefix(tenant, job_id)):
            name = part.key.rsplit("/", 1)[1].removesuffix(".npy")
            try:
                lines = self.blobs.get_bytes(f"{output_prefix}parts/{name}.jsonl").splitlines()
            except ObjectMissing:
                continue  # written just before a crash, its part never followed: nothing it names was kept
            matrix = read_matrix(self.blobs.get_bytes(part.key))
            if len(matrix) != len(lines):
                raise ValueError(f"{part.key} has {len(matrix)} rows for {len(lines)} predictions")
            ids, rows = [], []
            for row, line in enumerate(lines):
                entry = json.loads(line)
                item = layout.parse_item(entry.get("key", ""))
                if item is not None and "error" not in entry:
                    ids.append(item.item_id)
                    rows.append(row)
            if ids:
                yield ids, matrix[rows]

    def rebuild(self, tenant: str, job_ids: Iterable[str]) -> int:
        """Load, for each (dataset, model), its latest succeeded job of `job_ids` that wrote vectors."""
        latest: dict[tuple[str, str], tuple[float, str]] = {}
        for job_id in job_ids:
            found = self._finished(tenant, job_id)
            if found is None:
                continue
            record, finished_at = found
            pair = (record["dataset_id"], record["model_id"])
            latest[pair] = max(latest.get(pair, (finished_at, job_id)), (finished_at, job_id))
        return sum(self.attach(tenant, job_id) for _, job_id in latest.values())
