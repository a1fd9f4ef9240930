"""The SearchIndex port: a derived, rebuildable view of items for listing, filtering and search.

Storage is the truth. Every record carries `observed_at`, the time its state was read from
storage; the index never lets an older observation overwrite a newer one, so events may arrive
twice or out of order. A delete leaves a tombstone for the same reason.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

PENDING, AVAILABLE = "pending", "available"


@dataclass(frozen=True)
class Prediction:
    """One model's prediction for one item, from the latest succeeded job of that model on the dataset."""

    model_id: str
    job_id: str
    predicted: str | None
    score: float | None  # the predicted class's probability
    margin: float | None  # top-1 minus top-2 probability: small means the model is unsure
    probs: dict[str, float] = field(default_factory=dict)  # the top-k class probabilities
    finished_at: float = 0.0  # when its job finished: a later job's predictions replace these


def mistake_score(prediction: Prediction, label: str | None) -> float | None:
    """How strongly the model says the label is wrong: max over other classes of p(class) - p(label).

    Positive when the model prefers another class; None for an unlabelled item or no prediction.
    A class missing from the top-k has a probability below every listed one: it counts as 0.
    """
    if label is None or prediction.predicted is None or not prediction.probs:
        return None
    others = [p for name, p in prediction.probs.items() if name != label]
    return round((max(others) if others else 0.0) - prediction.probs.get(label, 0.0), 6)


def suggested(prediction: Prediction, label: str | None) -> str | None:
    """The class the model would put instead of `label` (its most likely class other than the label)."""
    others = {name: p for name, p in prediction.probs.items() if name != label}
    return max(others, key=lambda name: (others[name], name)) if others else None


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
    label_source: str | None = None  # "person:<user>" or "model:<model_id>", stored beside the label tag
    sha256: str | None = None  # announced by the uploader, kept as object metadata (hex)
    preview_refused: str | None = None  # why an image has no thumbnail (domain.thumbnails' reasons)
    # Derived from job parts, never from the item's storage state: upsert keeps what the index holds.
    predictions: tuple[Prediction, ...] = ()

    def prediction(self, model_id: str) -> Prediction | None:
        return next((p for p in self.predictions if p.model_id == model_id), None)


@dataclass(frozen=True)
class ItemQuery:
    """Filters of a listing or search; None means 'any'. `q` is full text over filename, label, tags."""

    dataset_id: str | None = None
    label: str | None = None
    unlabeled: bool = False
    status: str | None = None
    content_type: str | None = None
    q: str | None = None
    # Model output: `model_id` names whose predictions the next four filter on (required by them);
    # any of them keeps only items that model has a prediction for.
    model_id: str | None = None
    predicted: str | None = None
    disagrees: bool = False  # labelled, and the prediction differs from the label
    min_score: float | None = None
    max_score: float | None = None
    sort: str = "id"  # one of SORTS
    hidden: tuple[str, ...] = ()  # datasets whose items no query returns (being deleted)


# name -> (what orders, descending?). Ties break on item_id ascending, which keeps cursors stable.
SORTS = {
    "id": ("item_id", False),
    "name": ("filename", False),
    "-name": ("filename", True),
    "label": ("label", False),  # unlabelled items last, in both directions
    "-label": ("label", True),
    "size": ("size", False),
    "-size": ("size", True),
    "created_at": ("created_at", False),
    "-created_at": ("created_at", True),
    "score": ("score", False),  # of `model_id`'s prediction
    "-score": ("score", True),
    "margin": ("margin", False),  # least certain first
    "mistake": ("mistake", True),  # likeliest wrong label first: `model_id`'s, or the mean over models
}
PREDICTION_SORTS = ("score", "-score", "margin")  # need `model_id`; "mistake" works without it


def sort_value(record: ItemRecord, query: ItemQuery) -> str | float | None:
    """The value `query.sort` orders `record` by."""
    column = SORTS[query.sort][0]
    if column in ("item_id", "filename", "created_at", "size"):
        return getattr(record, column)
    if column == "label":
        return record.label  # None: after every class, whichever the direction
    if column == "mistake" and query.model_id is None:
        scores = [mistake_score(p, record.label) for p in record.predictions]
        scores = [s for s in scores if s is not None]
        return round(sum(scores) / len(scores), 6) if scores else None
    prediction = record.prediction(query.model_id or "")
    if prediction is None:
        return None
    return mistake_score(prediction, record.label) if column == "mistake" else getattr(prediction, column)


def position_of(record: ItemRecord, query: ItemQuery) -> str:
    """Where the next page starts after `record`: its item id, or JSON [sort value, item id] under a sort."""
    if query.sort == "id":
        return record.item_id
    return json.dumps([sort_value(record, query), record.item_id])


def parse_position(query: ItemQuery, after: str) -> tuple[str | float | None, str]:
    """(sort value, item id) of a position made by `position_of` for the same sort; ValueError if not one.
    The value is None only under the label sort, after an unlabelled item: only unlabelled ones follow."""
    if query.sort == "id":
        return after, after
    position = json.loads(after)  # not JSON: a ValueError too
    # Other sorts keep only the items that have their value, so their real positions never hold a null.
    column = SORTS[query.sort][0]
    kind = str if column in ("filename", "label") else int | float
    if not isinstance(position, list) or len(position) != 2:
        raise ValueError("not a position of this sort")
    value, item_id = position
    if value is None and column == "label" and isinstance(item_id, str):
        return value, item_id
    if not isinstance(item_id, str) or isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError("not a position of this sort")
    return value, item_id


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
    def upsert_many(self, records: Iterable[ItemRecord]) -> int:
        """`upsert` of each record, written together (one transaction, one bulk request); how many applied."""

    @abstractmethod
    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        """One live item of one dataset, or None."""

    @abstractmethod
    def delete(self, tenant: str, dataset_id: str, item_id: str, observed_at: float) -> bool:
        """Tombstone an item unless it was observed after `observed_at`; True when applied."""

    def delete_many(self, tenant: str, dataset_id: str, item_ids: list[str], observed_at: float) -> None:
        """`delete` of many items of one dataset (a dataset's deletion, a page at a time)."""
        for item_id in item_ids:
            self.delete(tenant, dataset_id, item_id, observed_at)

    @abstractmethod
    def delete_dataset(self, tenant: str, dataset_id: str) -> list[ItemRecord]:
        """Forget a dataset's items; returns the pending ones so their uploads can be aborted."""

    @abstractmethod
    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        """Up to `limit` live items matching `query` in `query.sort` order, after the position `after`
        (see position_of; a malformed one raises ValueError). Records carry their predictions."""

    @abstractmethod
    def count(self, tenant: str, query: ItemQuery) -> int:
        """How many live items match `query`'s filters, exactly (its sort plays no part)."""

    @abstractmethod
    def attach_predictions(
        self,
        tenant: str,
        dataset_id: str,
        model_id: str,
        job_id: str,
        finished_at: float,
        rows: Iterable[tuple[str, Prediction]],
    ) -> int:
        """Make `rows` ((item_id, prediction)) the items' predictions of `model_id`, unless a job that
        finished later has attached its own; then drop that model's predictions on the dataset from
        older jobs (items this job did not cover). Items the index lacks are skipped. Returns how
        many items got this job's prediction. Runs again with the same rows to the same result."""

    @abstractmethod
    def predicted_models(self, tenant: str, dataset_id: str) -> dict[str, tuple[str, int]]:
        """model_id -> (job_id, items) for each model with predictions on the dataset's live items."""

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
