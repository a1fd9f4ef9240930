"""A dataset's map: its embeddings laid out in 2-D, computed once per job and kept beside the job's parts."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import numpy as np

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import SearchIndex
from service.adapters.vectorindex import VectorSet
from service.domain.projection import project
from service.domain.similarity import Similarity
from service.vocabulary import layout

KEPT_LAYOUTS = 4  # layouts held in memory, for the pages of the maps being looked at


class DatasetMap:
    def __init__(self, blobs: BlobStore, index: SearchIndex, similarity: Similarity):
        self.blobs = blobs
        self.index = index
        self.similarity = similarity
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def layout_of(self, tenant: str, dataset_id: str, chosen: VectorSet) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, (n, 2) coordinates in [0, 1]) of the set's job: from memory, storage, or made now."""
        with self._lock:
            if chosen.job_id in self._cache:
                self._cache.move_to_end(chosen.job_id)
                return self._cache[chosen.job_id]
            key = layout.job_map(tenant, chosen.job_id)
            try:
                with np.load(io.BytesIO(self.blobs.get_bytes(key)), allow_pickle=False) as stored:
                    made = stored["ids"], stored["xy"]
            except ObjectMissing:
                made = self._make(tenant, dataset_id, chosen, key)
            self._cache[chosen.job_id] = made
            if len(self._cache) > KEPT_LAYOUTS:
                self._cache.popitem(last=False)
            return made

    def _make(self, tenant: str, dataset_id: str, chosen: VectorSet, key: str) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.similarity.vectors
        ids, xy = project(lambda: vectors.scan(tenant, dataset_id, chosen.model_id), chosen.count)
        ids = np.asarray(ids, dtype="S")
        out = io.BytesIO()
        np.savez(out, ids=ids, xy=xy)
        self.blobs.put_bytes(key, out.getvalue(), "application/octet-stream")
        return ids, xy

    def page(
        self, tenant: str, dataset_id: str, model_id: str | None, offset: int, limit: int
    ) -> tuple[VectorSet, list[dict], int | None]:
        """Points `offset`.. of the map with each item's label and prediction (the embedding model's own,
        or else the item's latest), and the offset of the next page; items deleted since are left out."""
        chosen = self.similarity.vector_set(tenant, dataset_id, model_id)
        ids, xy = self.layout_of(tenant, dataset_id, chosen)
        rows = []
        for n in range(offset, min(offset + limit, len(ids))):
            item_id = ids[n].decode()
            record = self.index.get(tenant, dataset_id, item_id)
            if record is None:
                continue
            own = record.prediction(chosen.model_id)
            latest = max(record.predictions, key=lambda p: p.finished_at, default=None)
            shown = own if own is not None and own.predicted is not None else latest
            rows.append(
                {
                    "item_id": item_id,
                    "x": round(float(xy[n, 0]), 5),
                    "y": round(float(xy[n, 1]), 5),
                    "label": record.label,
                    "predicted": shown.predicted if shown else None,
                }
            )
        following = offset + limit
        return chosen, rows, (following if following < len(ids) else None)
