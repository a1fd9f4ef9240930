"""Dataset manifests (CSV, JSONL, COCO) streamed page by page, never built in memory."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord, SearchIndex
from service.domain import csv_cells
from service.domain.datasets import Dataset
from service.domain.items import ItemService
from service.vocabulary import layout

PAGE = 1000
FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson", "coco": "application/json"}
CSV_FIELDS = ["item_id", "filename", "label", "url", "content_type", "size", "tags", "boxes"]


class Exporter:
    def __init__(self, blobs: BlobStore, index: SearchIndex, items: ItemService):
        self.blobs = blobs
        self.index = index
        self.items = items

    def _records(self, tenant: str, dataset_id: str) -> Iterator[ItemRecord]:
        query = ItemQuery(dataset_id=dataset_id, status=AVAILABLE)
        after = None
        while page := self.index.search(tenant, query, PAGE, after):
            yield from page
            after = page[-1].item_id

    def _boxes(self, record: ItemRecord) -> list[dict]:
        if not record.annotations:
            return []
        key = layout.annotations_record(record.tenant, record.dataset_id, record.item_id)
        try:
            return json.loads(self.blobs.get_bytes(key))["boxes"]
        except ObjectMissing:
            return []

    def _row(self, record: ItemRecord) -> dict:
        return {
            "item_id": record.item_id,
            "filename": record.filename,
            "label": record.label,
            "url": self.items.download_url(record),
            "content_type": record.content_type,
            "size": record.size,
            "tags": record.tags,
            "boxes": self._boxes(record),
        }

    def stream(self, tenant: str, dataset: Dataset, fmt: str) -> Iterator[str]:
        if fmt == "csv":
            return self._csv(tenant, dataset)
        if fmt == "jsonl":
            return (json.dumps(self._row(r), ensure_ascii=False) + "\n" for r in self._records(tenant, dataset.id))
        return self._coco(tenant, dataset)

    def _csv(self, tenant: str, dataset: Dataset) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, CSV_FIELDS)
        writer.writeheader()
        for record in self._records(tenant, dataset.id):
            row = self._row(record)
            row["tags"] = json.dumps(row["tags"], ensure_ascii=False) if row["tags"] else ""
            row["boxes"] = json.dumps(row["boxes"]) if row["boxes"] else ""
            row["label"] = row["label"] or ""
            writer.writerow(csv_cells.row(row))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    def _coco(self, tenant: str, dataset: Dataset) -> Iterator[str]:
        """Images stream out first; annotations wait in a spooled file; categories come last,
        numbered from the label classes (or, without classes, from the labels met on the way)."""
        categories = {name: n for n, name in enumerate(dataset.label_classes, 1)}
        pending = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024, mode="w+")  # noqa: SIM115
        info = {"description": dataset.name, "edna_dataset_id": dataset.id}
        yield '{"info": ' + json.dumps(info, ensure_ascii=False) + ', "images": ['
        annotation_id = 0
        with pending:
            for image_id, record in enumerate(self._records(tenant, dataset.id), 1):
                image = {
                    "id": image_id,
                    "file_name": record.filename,
                    "width": record.width,
                    "height": record.height,
                    "coco_url": self.items.download_url(record),
                    "edna_item_id": record.item_id,
                    "edna_label": record.label,
                }
                yield ("" if image_id == 1 else ", ") + json.dumps(image, ensure_ascii=False)
                for box in self._boxes(record):
                    category = categories.setdefault(box["label"], len(categories) + 1)
                    annotation_id += 1
                    annotation = {
                        "id": annotation_id,
                        "image_id": image_id,
                        "category_id": category,
                        "bbox": [box["x"], box["y"], box["w"], box["h"]],
                        "area": box["w"] * box["h"],
                        "iscrowd": 0,
                    }
                    pending.write(("" if annotation_id == 1 else ", ") + json.dumps(annotation))
            yield '], "annotations": ['
            pending.seek(0)
            while chunk := pending.read(64 * 1024):
                yield chunk
        names = sorted(categories, key=categories.get)
        yield '], "categories": ' + json.dumps([{"id": categories[n], "name": n} for n in names]) + "}"
