"""Labels and user tags, both object tags (S3's limits apply), written read-modify-write."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import AVAILABLE, ItemRecord, SearchIndex
from service.domain.datasets import Dataset
from service.domain.items import ItemService
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest, Conflict, NotFound

MAX_TAGS = 10  # S3's limit per object; the label and its source are two of them
MAX_BULK = 1000
BULK_WORKERS = 4  # items of one bulk request changed at once
RESERVED = (layout.LABEL_TAG, layout.LABEL_SOURCE_TAG)


def person(user: str) -> str:
    """The label source of a person's label."""
    return f"person:{user}"[: names.MAX_TAG_VALUE]


def model(model_id: str) -> str:
    """The label source of a label accepted from a model's prediction."""
    return f"model:{model_id}"


def validate_label(dataset: Dataset, label: str | None) -> str | None:
    if label is None:
        return None
    names.tag_value(label, "label")
    if not label.strip():
        raise BadRequest("label must not be empty; send null to remove it")
    if dataset.label_classes and label not in dataset.label_classes:
        raise BadRequest(f"label {label!r} is not one of the dataset's classes: {', '.join(dataset.label_classes)}")
    return label


def validate_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"at most {MAX_TAGS} tags per item (S3's limit), the label included")
    for key, value in tags.items():
        if not key or len(key) > names.MAX_TAG_KEY:
            raise BadRequest(f"tag key {key!r} must be 1-{names.MAX_TAG_KEY} characters")
        names.tag_value(key, "tag key")
        if key in RESERVED or key.lower().startswith("aws:"):
            raise BadRequest(f"tag key {key!r} is reserved; set the label with PUT .../label")
        names.tag_value(value, f"value of tag {key!r}")
    return tags


class Labeler:
    """Changes tags of available items and puts the new state in the index at once."""

    def __init__(self, blobs: BlobStore, index: SearchIndex, items: ItemService):
        self.blobs = blobs
        self.index = index
        self.items = items

    def _available(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord:
        record = self.items.get(tenant, dataset_id, item_id)
        if record.status != AVAILABLE:
            raise Conflict("the item's upload has not been completed")
        return record

    def _write(self, record: ItemRecord, change, held: list[ItemRecord] | None = None) -> ItemRecord:
        """Change the item's tags; its new record goes to the index at once, or into `held` for the
        caller to write with others (safe later: the index keeps the latest observation whatever the order)."""
        key = layout.item_object(record.tenant, record.dataset_id, record.item_id, record.filename)
        written: list[ItemRecord] = []

        def record_in_index(tags: dict[str, str]) -> None:
            # Still under the key's lock: a later writer's state always gets a later observation.
            observed_at = time.time()  # the state just read back: newer than any event still in flight
            label = tags.pop(layout.LABEL_TAG, None)
            source = tags.pop(layout.LABEL_SOURCE_TAG, None)
            current = self.items.indexer.with_thumbnail(record)  # made off the request path since `record` was read
            written.append(
                replace(
                    current,
                    label=label,
                    label_source=source,
                    tags=tags,
                    updated_at=observed_at,
                    observed_at=observed_at,
                )
            )
            if held is None:
                self.index.upsert(written[0])
            else:
                held.append(written[0])

        self.blobs.update_tags(key, change, then=record_in_index)
        return written[0]

    def set_label(
        self,
        tenant: str,
        dataset: Dataset,
        item_id: str,
        label: str | None,
        source: str,
        unless_labelled: bool = False,
        held: list[ItemRecord] | None = None,
    ) -> ItemRecord:
        """Set (or with None remove) the label; `source` is person(...) or model(...).
        `unless_labelled`: leave a label someone set meanwhile (Conflict), decided under the key's lock.
        `held`: collect the new record there instead of indexing it now (see `_write`)."""
        label = validate_label(dataset, label)
        record = self._available(tenant, dataset.id, item_id)

        def change(tags: dict[str, str]) -> dict[str, str]:
            if unless_labelled and layout.LABEL_TAG in tags:
                raise Conflict("the item was labelled meanwhile")
            tags.pop(layout.LABEL_SOURCE_TAG, None)
            if label is None:
                tags.pop(layout.LABEL_TAG, None)
                return tags
            if layout.LABEL_TAG not in tags and len(tags) >= MAX_TAGS:
                raise BadRequest(f"the item already has {MAX_TAGS} tags: remove one to make room for the label")
            tags[layout.LABEL_TAG] = label
            if len(tags) < MAX_TAGS:  # the user's tags come first: without room the source stays unknown
                tags[layout.LABEL_SOURCE_TAG] = source
            return tags

        written = self._write(record, change, held)
        if written.label != record.label:
            data = {"dataset_id": dataset.id, "item_id": item_id, "label": written.label, "previous": record.label}
            self.items.emit(tenant, "label.changed", {**data, "source": source})
        return written

    def set_tags(
        self, tenant: str, dataset_id: str, item_id: str, tags: dict[str, str], held: list[ItemRecord] | None = None
    ) -> ItemRecord:
        """Replace the user tags; the label stays. `held`: as for `set_label`."""
        validate_tags(tags)
        record = self._available(tenant, dataset_id, item_id)

        def change(current: dict[str, str]) -> dict[str, str]:
            new = dict(tags)
            if layout.LABEL_TAG in current:
                new[layout.LABEL_TAG] = current[layout.LABEL_TAG]
            if len(new) > MAX_TAGS:
                raise BadRequest(f"at most {MAX_TAGS} tags per item (S3's limit), the label included")
            if layout.LABEL_SOURCE_TAG in current and len(new) < MAX_TAGS:
                new[layout.LABEL_SOURCE_TAG] = current[layout.LABEL_SOURCE_TAG]
            return new

        return self._write(record, change, held)

    def set_labels(
        self, tenant: str, dataset: Dataset, entries: list[tuple[str, str | None]], source: str
    ) -> list[dict]:
        """Bulk labeling: each entry succeeds or fails on its own, with its own status."""
        if len(entries) > MAX_BULK:
            raise BadRequest(f"at most {MAX_BULK} labels per request")
        held: list[ItemRecord] = []

        def one(entry: tuple[str, str | None]) -> dict:
            item_id, label = entry
            try:
                record = self.set_label(tenant, dataset, item_id, label, source, held=held)
            except (BadRequest, NotFound, Conflict) as exc:
                return {"item_id": item_id, "status": exc.status, "label": label, "error": exc.message}
            return {"item_id": item_id, "status": 200, "label": record.label}

        # Storage round trips overlap (on S3 a serial thousand outlasts API Gateway's 29 s); a storage error
        # is not one item's fault and propagates: the caller retries the batch. The index gets one write.
        try:
            with ThreadPoolExecutor(BULK_WORKERS, thread_name_prefix="edna-labels") as pool:
                results = list(pool.map(one, entries))
        finally:
            self.index.upsert_many(held)
        return results
