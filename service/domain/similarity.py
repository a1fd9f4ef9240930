"""Similar items: neighbours from the vector index, kept to live items that pass the listing's filters.

The vector index knows vectors only; whether an item still exists and what its label is today are
the search index's facts. So neighbours are fetched as candidates, checked against the search index,
and fetched again (more of them) until `k` pass or the set is exhausted.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord, SearchIndex
from service.adapters.vectorindex import VectorIndex, VectorSet
from service.vocabulary.errors import BadRequest, Conflict

MAX_K = 100
FIRST_FETCH = 4  # candidates per wanted neighbour at first; doubled while too few pass the filters
# Neighbours looked at for one request at most: a filter that almost nothing passes answers with
# fewer than k items instead of reading the whole dataset's records one by one.
MAX_CANDIDATES = 10_000


def matches(record: ItemRecord, query: ItemQuery) -> bool:
    """Whether a record passes a listing's filters (all but full text, which similarity does not take)."""
    if record.status != (query.status or AVAILABLE):
        return False
    if query.label is not None and record.label != query.label:
        return False
    if query.unlabeled and record.label is not None:
        return False
    if query.content_type is not None and record.content_type != query.content_type:
        return False
    if query.model_id is None:
        return True
    prediction = record.prediction(query.model_id)
    if prediction is None:
        return False
    if query.predicted is not None and prediction.predicted != query.predicted:
        return False
    if query.disagrees and (record.label is None or prediction.predicted == record.label):
        return False
    score = prediction.score if prediction.score is not None else -1.0
    if query.min_score is not None and score < query.min_score:
        return False
    return query.max_score is None or score <= query.max_score


class Similarity:
    def __init__(self, vectors: VectorIndex, index: SearchIndex):
        self.vectors = vectors
        self.index = index

    def vector_set(self, tenant: str, dataset_id: str, model_id: str | None) -> VectorSet:
        """The named model's vectors of the dataset, or the latest set when no model is named."""
        sets = self.vectors.sets(tenant, dataset_id)
        if model_id is not None:
            found = sets.get(model_id)
            if found is None:
                raise Conflict("this model has no embeddings of this dataset yet: run a job of it over the dataset")
            return found
        if not sets:
            raise Conflict("the dataset has no embeddings yet: run a job of an embedding model over it")
        return max(sets.values(), key=lambda s: (s.finished_at, s.model_id))

    def to_item(
        self, tenant: str, dataset_id: str, item_id: str, model_id: str | None, k: int, query: ItemQuery
    ) -> tuple[VectorSet, list[tuple[ItemRecord, float]], str | None]:
        """The k items most like one item of the dataset (itself left out); with none, the reason why."""
        chosen = self.vector_set(tenant, dataset_id, model_id)
        vector = self.vectors.vector(tenant, dataset_id, chosen.model_id, item_id)
        if vector is None:
            # A fact of the item, not an error: the next job of the model gives it one.
            return chosen, [], "the item has no embedding of this model yet (added after its job, or unreadable)"
        return chosen, self.to_vector(tenant, dataset_id, chosen, vector, k, query, exclude={item_id}), None

    def to_vector(
        self,
        tenant: str,
        dataset_id: str,
        chosen: VectorSet,
        vector: np.ndarray,
        k: int,
        query: ItemQuery,
        exclude: Collection[str] = (),
    ) -> list[tuple[ItemRecord, float]]:
        """The k live items of the set most like `vector` that pass `query`'s filters, most similar first."""
        if not 1 <= k <= MAX_K:
            raise BadRequest(f"k must be between 1 and {MAX_K}")
        if query.q:
            raise BadRequest("similar items take the listing's filters but not q (full text)")
        if len(vector) != chosen.dims:
            raise BadRequest(f"the query has {len(vector)} dimensions; this model's embeddings have {chosen.dims}")
        fetch, checked, found = k * FIRST_FETCH, 0, []
        while True:
            candidates = self.vectors.nearest(tenant, dataset_id, chosen.model_id, vector, fetch, exclude)
            for item_id, similarity in candidates[checked:]:  # neighbours come in the same order each time
                record = self.index.get(tenant, dataset_id, item_id)
                if record is not None and matches(record, query):
                    found.append((record, similarity))
                    if len(found) == k:
                        return found
            checked = len(candidates)
            if checked < fetch or fetch >= MAX_CANDIDATES:
                return found  # the whole set was looked at, or enough of it
            fetch = min(fetch * 2, MAX_CANDIDATES)
