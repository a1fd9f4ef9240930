"""Dataset manifests (CSV, JSONL, COCO) streamed page by page, never built in memory."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord, SearchIndex
from service.domain import csv_cells
from service.domain.datasets import Dataset
from service.domain.items import ItemService
from service.vocabulary import layout

PAGE = 1000
FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson", "coco": "application/json"}
CSV_FIELDS = ["item_id", "filename", "label", "url", "content_type", "size", "tags", "boxes"]


def available_records(
    index: SearchIndex, tenant: str, dataset_id: str, after: str | None = None
) -> Iterator[ItemRecord]:
    """The dataset's available items in id order (after the id `after`), a page at a time."""
    query = ItemQuery(dataset_id=dataset_id, status=AVAILABLE)
    while page := index.search(tenant, query, PAGE, after):
        yield from page
        after = page[-1].item_id


def current_boxes(blobs: BlobStore, record: ItemRecord) -> list[dict]:
    """The item's boxes as its annotations sidecar holds them now (read only when the index counts some)."""
    if not record.annotations:
        return []
    key = layout.annotations_record(record.tenant, record.dataset_id, record.item_id)
    try:
        return json.loads(blobs.get_bytes(key))["boxes"]
    except ObjectMissing:
        return []


def manifest(dataset: Dataset, rows: Iterable[dict], fmt: str) -> Iterator[str]:
    """The export of `rows` (CSV_FIELDS plus `width` and `height`) in `fmt`, a row at a time."""
    if fmt == "csv":
        return _csv(rows)
    if fmt == "jsonl":
        return (json.dumps({k: row[k] for k in CSV_FIELDS}, ensure_ascii=False) + "\n" for row in rows)
    return _coco(dataset, rows)


class Exporter:
    def __init__(self, blobs: BlobStore, index: SearchIndex, items: ItemService):
        self.blobs = blobs
        self.index = index
        self.items = items

    def _row(self, record: ItemRecord) -> dict:
        return {
            "item_id": record.item_id,
            "filename": record.filename,
            "label": record.label,
            "url": self.items.download_url(record),
            "content_type": record.content_type,
            "size": record.size,
            "tags": record.tags,
            "boxes": current_boxes(self.blobs, record),
            "width": record.width,
            "height": record.height,
        }

    def stream(self, tenant: str, dataset: Dataset, fmt: str) -> Iterator[str]:
        rows = (self._row(r) for r in available_records(self.index, tenant, dataset.id))
        return manifest(dataset, rows, fmt)


def _csv(rows: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        row["tags"] = json.dumps(row["tags"], ensure_ascii=False) if row["tags"] else ""
        row["boxes"] = json.dumps(row["boxes"]) if row["boxes"] else ""
        row["label"] = row["label"] or ""
        writer.writerow(csv_cells.row(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _coco(dataset: Dataset, rows: Iterable[dict]) -> Iterator[str]:
    """Images stream out first; annotations wait in a spooled file; categories come last,
    numbered from the label classes (or, without classes, from the labels met on the way)."""
    categories = {name: n for n, name in enumerate(dataset.label_classes, 1)}
    pending = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024, mode="w+")  # noqa: SIM115
    info = {"description": dataset.name, "edna_dataset_id": dataset.id}
    yield '{"info": ' + json.dumps(info, ensure_ascii=False) + ', "images": ['
    annotation_id = 0
    with pending:
        for image_id, row in enumerate(rows, 1):
            image = {
                "id": image_id,
                "file_name": row["filename"],
                "width": row["width"],
                "height": row["height"],
                "coco_url": row["url"],
                "edna_item_id": row["item_id"],
                "edna_label": row["label"],
            }
            yield ("" if image_id == 1 else ", ") + json.dumps(image, ensure_ascii=False)
            for box in row["boxes"]:
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
