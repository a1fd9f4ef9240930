"""The SearchIndex port: a derived, rebuildable view of items for listing, filtering and search."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemRecord:
    """What the index knows of one item; storage (object + tags) stays the truth."""

    tenant: str
    dataset_id: str
    item_id: str
    filename: str
    content_type: str
    size: int
    status: str
    created_at: float
    created_by: str
    label: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    upload_id: str = ""
    updated_at: float = 0.0


@dataclass(frozen=True)
class ItemQuery:
    """Filters of a listing or search; None means 'any'."""

    dataset_id: str | None = None
    label: str | None = None
    unlabeled: bool = False
    status: str | None = None
    content_type: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class DatasetStats:
    item_count: int = 0
    bytes: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)


class SearchIndex(ABC):
    """Items by tenant; every query is scoped to one tenant."""

    name: str

    @abstractmethod
    def upsert(self, record: ItemRecord) -> None:
        """Insert or replace one item."""

    @abstractmethod
    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        """One item of one dataset, or None."""

    @abstractmethod
    def delete(self, tenant: str, dataset_id: str, item_id: str) -> None:
        """Forget one item (no error when absent)."""

    @abstractmethod
    def delete_dataset(self, tenant: str, dataset_id: str) -> list[ItemRecord]:
        """Forget a dataset's items; returns the pending ones so their uploads can be aborted."""

    @abstractmethod
    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        """Up to `limit` items matching `query`, ordered by item id, after the id `after`."""

    @abstractmethod
    def stats(self, tenant: str, dataset_id: str) -> DatasetStats:
        """Counts of a dataset's available items: total, bytes, per label."""
