"""Datasets: records in storage (`dataset.json`), counts from the index (deletion: dataset_deletions.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import SearchIndex
from service.adapters.vectorindex import VectorIndex
from service.domain import hotkeys
from service.domain.records import records_page
from service.domain.tenant_locks import TenantLocks
from service.domain.timestamps import now_iso
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest, Conflict, NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

MAX_LABEL_CLASSES = 1000
MAX_DESCRIPTION = 4000


@dataclass
class Dataset:
    id: str
    name: str
    description: str
    label_classes: list[str]
    created_by: str
    created_at: str
    updated_at: str
    hotkeys: dict[str, str] = field(default_factory=dict)  # chosen per class; the rest take hotkeys.defaults
    deleting: bool = False  # its deletion is under way: not found, and listed nowhere
    extra: dict = field(default_factory=dict)  # stats added when read, never stored

    def record(self) -> bytes:
        data = asdict(self)
        data.pop("extra")
        return json.dumps(data, indent=1, ensure_ascii=False).encode()


def label_classes(values: list[str]) -> list[str]:
    if len(values) > MAX_LABEL_CLASSES:
        raise BadRequest(f"at most {MAX_LABEL_CLASSES} label classes")
    cleaned = [names.tag_value(v, "label class") for v in values]
    if any(not v.strip() for v in cleaned):
        raise BadRequest("label classes must not be empty")
    if len(set(cleaned)) != len(cleaned):
        raise BadRequest("label classes must be unique")
    return cleaned


def description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise BadRequest(f"description is longer than {MAX_DESCRIPTION} characters")
    return value


class DatasetCatalog:
    """A tenant's datasets. Ids that are not ours, or not ids at all, are simply not found."""

    def __init__(self, blobs: BlobStore, index: SearchIndex, vectors: VectorIndex, locks: TenantLocks | None = None):
        self.blobs = blobs
        self.index = index
        self.vectors = vectors
        self._tenants = locks or TenantLocks()  # two simultaneous creates of one name: the second sees the first

    def get(self, tenant: str, dataset_id: str, deleting_too: bool = False) -> Dataset:
        if not is_id(dataset_id):
            raise NotFound("dataset not found")
        try:
            data = json.loads(self.blobs.get_bytes(layout.dataset_record(tenant, dataset_id)))
        except ObjectMissing:
            raise NotFound("dataset not found") from None
        dataset = Dataset(**data)
        if dataset.deleting and not deleting_too:
            raise NotFound("dataset not found")
        return dataset

    def mark_deleting(self, tenant: str, dataset_id: str) -> None:
        """From now on the dataset is not found and listed nowhere; its deletion removes what it holds."""
        with self._tenants.hold(tenant):  # a simultaneous update cannot write it back unmarked
            dataset = self.get(tenant, dataset_id, deleting_too=True)
            if not dataset.deleting:
                dataset.deleting = True
                self.blobs.put_bytes(layout.dataset_record(tenant, dataset_id), dataset.record(), "application/json")

    def with_stats(self, tenant: str, dataset: Dataset) -> Dataset:
        stats = self.index.stats(tenant, dataset.id)
        dataset.extra = {
            "item_count": stats.item_count,
            "bytes": stats.bytes,
            "label_counts": stats.label_counts,
            "hotkeys": hotkeys.effective(dataset.label_classes, dataset.hotkeys),
            "predictions": [
                {"model_id": model_id, "job_id": job_id, "items": count}
                for model_id, (job_id, count) in sorted(self.index.predicted_models(tenant, dataset.id).items())
            ],
        }
        return dataset

    def list(self, tenant: str, limit: int, after: str | None) -> tuple[list[Dataset], str | None]:
        """One page of datasets in creation order; the second value is the last id when more follow."""
        return records_page(self.blobs, layout.datasets_prefix(tenant), after, limit, lambda d: self.get(tenant, d))

    def every(self, tenant: str):
        """All the tenant's datasets, a page of records at a time."""
        after = None
        while True:
            page, after = self.list(tenant, 1000, after)
            yield from page
            if after is None:
                return

    def _ensure_unique(self, tenant: str, name: str, except_id: str | None = None) -> None:
        folded = name.casefold()
        for other in self.every(tenant):
            if other.id != except_id and other.name.casefold() == folded:
                raise Conflict(f"a dataset named {other.name!r} already exists (id {other.id})")

    def create(self, principal: Principal, name: str, desc: str = "", classes: list[str] | None = None) -> Dataset:
        name = names.dataset_name(name)
        dataset = Dataset(
            id=new_id(),
            name=name,
            description=description(desc),
            label_classes=label_classes(classes or []),
            created_by=principal.user,
            created_at=now_iso(),
            updated_at=now_iso(),
        )
        with self._tenants.hold(principal.tenant):
            self._ensure_unique(principal.tenant, name)
            self.blobs.put_bytes(
                layout.dataset_record(principal.tenant, dataset.id), dataset.record(), "application/json"
            )
        return dataset

    def update(self, tenant: str, dataset_id: str, changes: dict) -> Dataset:
        with self._tenants.hold(tenant):
            dataset = self.get(tenant, dataset_id)
            if "name" in changes:
                dataset.name = names.dataset_name(changes["name"])
                self._ensure_unique(tenant, dataset.name, except_id=dataset.id)
            if "description" in changes:
                dataset.description = description(changes["description"])
            if "label_classes" in changes:
                dataset.label_classes = label_classes(changes["label_classes"])
            if "hotkeys" in changes:
                dataset.hotkeys = hotkeys.validate(dataset.label_classes, changes["hotkeys"])
            dataset.updated_at = now_iso()
            self.blobs.put_bytes(layout.dataset_record(tenant, dataset.id), dataset.record(), "application/json")
        return dataset

    def rename_class(self, tenant: str, dataset_id: str, old: str, new: str) -> Dataset:
        """`old` becomes `new` in the class list, in its place (merged into `new` if that is a class
        already); its hotkey moves with it unless `new` has one. The items' labels are the caller's run."""
        with self._tenants.hold(tenant):
            dataset = self.get(tenant, dataset_id)
            if old not in dataset.label_classes:
                raise BadRequest(f"{old!r} is not one of the dataset's classes")
            renamed = [new if c == old else c for c in dataset.label_classes]
            dataset.label_classes = list(dict.fromkeys(renamed))  # merged, when `new` was a class already
            moved = dataset.hotkeys.pop(old, None)
            if moved is not None and new not in dataset.hotkeys:
                dataset.hotkeys[new] = moved
            dataset.updated_at = now_iso()
            self.blobs.put_bytes(layout.dataset_record(tenant, dataset.id), dataset.record(), "application/json")
        return dataset
