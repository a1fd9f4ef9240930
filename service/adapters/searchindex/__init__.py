"""The SearchIndex port: a derived, rebuildable view of items for listing, filtering and search.

Storage is the truth. Every record carries `observed_at`, the time its state was read from
storage; the index never lets an older observation overwrite a newer one, so events may arrive
twice or out of order. A delete leaves a tombstone for the same reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

PENDING, AVAILABLE = "pending", "available"


@dataclass(frozen=True)
class ItemRecord:
    """What the index knows of one item; storage (object + tags + sidecars) stays the truth."""

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
    width: int | None = None
    height: int | None = None
    thumbnail: bool = False
    annotations: int = 0
    observed_at: float = 0.0


@dataclass(frozen=True)
class ItemQuery:
    """Filters of a listing or search; None means 'any'. `q` is full text over filename, label, tags."""

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
    """Items by tenant; every query is scoped to one tenant; tombstones are never returned."""

    name: str

    @abstractmethod
    def upsert(self, record: ItemRecord) -> bool:
        """Store the record unless the index holds a state observed later; True when applied."""

    @abstractmethod
    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        """One live item of one dataset, or None."""

    @abstractmethod
    def delete(self, tenant: str, dataset_id: str, item_id: str, observed_at: float) -> bool:
        """Tombstone an item unless it was observed after `observed_at`; True when applied."""

    @abstractmethod
    def delete_dataset(self, tenant: str, dataset_id: str) -> list[ItemRecord]:
        """Forget a dataset's items; returns the pending ones so their uploads can be aborted."""

    @abstractmethod
    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        """Up to `limit` live items matching `query`, ordered by item id, after the id `after`."""

    @abstractmethod
    def stats(self, tenant: str, dataset_id: str) -> DatasetStats:
        """Counts of a dataset's available items: total, bytes, per label."""

    @abstractmethod
    def holdings(self, tenant: str) -> tuple[int, int]:
        """(items, bytes) the tenant holds: available items and uploads still pending (quotas count both)."""

    @abstractmethod
    def tenants(self) -> list[str]:
        """Every tenant the index holds entries of."""

    @abstractmethod
    def sweep(self, tenant: str, observed_before: float) -> int:
        """After a rebuild: forget available items and tombstones not observed since it began."""

    def condition(self) -> dict:
        """What /api/health says of the index: `{"status": "ok"}`, or why results may be missing and the fix."""
        return {"status": "ok"}

    def rebuilt(self) -> None:  # noqa: B027 (most indexes have nothing to clear)
        """A full rebuild from storage has finished: whatever `condition()` reported is resolved."""
