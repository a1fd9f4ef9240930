"""The VectorIndex port: each (tenant, dataset, model)'s embeddings, searchable by cosine similarity.

Like the search index it is derived and rebuildable: a set holds the vectors of the latest succeeded
job of a model over a dataset, loaded from the job's vector parts in storage. Every call names the
tenant and the dataset; nothing is ever searched across them.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is the adapters' (service.adapters.vectorindex.unit_vectors): not every process needs it
    import numpy as np

    from service.adapters.vectorindex.unit_vectors import Batch


@dataclass(frozen=True)
class VectorSet:
    """One model's vectors of one dataset: from which job, how many live ones, of how many dimensions."""

    model_id: str
    job_id: str
    finished_at: float
    count: int
    dims: int


def checked_k(k: int) -> int:
    """k as an int; ValueError unless it is a positive integer."""
    if operator.index(k) < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    return operator.index(k)


class VectorIndex(ABC):
    name: str

    @abstractmethod
    def replace(
        self, tenant: str, dataset_id: str, model_id: str, job_id: str, finished_at: float, batches: Iterable[Batch]
    ) -> int:
        """Make these (item ids, float32 (n, dims)) batches the set's vectors, unless a job that finished
        later (or at the same time, with a greater id) holds it: then 0. Rows with no direction, and
        items removed from the dataset, are skipped; an item named twice keeps its last vector. Readers
        see the old set or the new one, never a mix. The same call again gives the same set. Returns
        how many vectors the set holds."""

    @abstractmethod
    def sets(self, tenant: str, dataset_id: str) -> dict[str, VectorSet]:
        """model id -> its set, for every model with vectors of the dataset."""

    def info(self, tenant: str, dataset_id: str, model_id: str) -> VectorSet | None:
        return self.sets(tenant, dataset_id).get(model_id)

    @abstractmethod
    def vector(self, tenant: str, dataset_id: str, model_id: str, item_id: str) -> np.ndarray | None:
        """The item's unit (dims,) vector in the set, or None."""

    @abstractmethod
    def nearest(
        self,
        tenant: str,
        dataset_id: str,
        model_id: str,
        query: np.ndarray,
        k: int,
        exclude: Collection[str] = (),
    ) -> list[tuple[str, float]]:
        """The k live items most similar to `query` (normalised here) by cosine, most similar first,
        ties by item id; ValueError for a query of other dimensions or k < 1."""

    @abstractmethod
    def scan(
        self, tenant: str, dataset_id: str, model_id: str, batch: int = 8192
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every live vector of the set once, in a stable order, a batch at a time (never all in memory)."""

    @abstractmethod
    def remove_items(self, tenant: str, dataset_id: str, item_ids: Iterable[str]) -> None:
        """The items are gone from every set of the dataset; a later job that still names them is
        loaded without them (item ids are never reused)."""

    @abstractmethod
    def remove_dataset(self, tenant: str, dataset_id: str) -> None:
        """Forget every set of the dataset."""

    @abstractmethod
    def remove_tenant(self, tenant: str) -> None:
        """Forget every set of the tenant, and the items it removed (a reindex loads the sets again)."""

    def condition(self) -> dict:
        return {"status": "ok"}
