"""`edna labels import`: labels and tags from a CSV, sent through the bulk routes (1000 entries a request).

Columns: `item_id` or `filename` (a pushed file's relative path or the item's filename), `label`
(empty clears it), and optionally `tags` as `k=v;k=v` (added to the item's tags).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from edna_client import transfer
from edna_client.paths import filename_of
from edna_client.records import Item
from edna_client.session import EdnaError, Session

BULK = 1000  # the bulk routes' limit


@dataclass
class ImportReport:
    labelled: int = 0
    tagged: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Row:
    line: int
    item_id: str
    label: str | None
    tags: tuple[tuple[str, str], ...]


def parse_tags(cell: str, line: int) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in filter(None, (e.strip() for e in cell.split(";"))):
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise EdnaError(f"line {line}: tag {entry!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(sorted(pairs))


def read_rows(path: Path, items: list[Item]) -> tuple[list[Row], list[str], bool]:
    """The CSV's rows with item ids resolved (by id, or by filename when that name is unique), the
    rows it could not resolve, and whether it has a label column."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_name[item.filename].append(item.id)
    rows, failures = [], []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        if not ({"item_id", "filename"} & columns) or not ({"label", "tags"} & columns):
            raise EdnaError(f"{path}: needs an item_id or filename column, and a label or tags column")
        for line, record in enumerate(reader, start=2):
            item_id = (record.get("item_id") or "").strip()
            if not item_id:
                name = (record.get("filename") or "").strip()
                ids = by_name.get(filename_of(PurePosixPath(name)), []) if name else []
                if len(ids) != 1:
                    failures.append(f"line {line}: {'no' if not ids else 'several'} items named {name!r}")
                    continue
                item_id = ids[0]
            label = record.get("label")
            tags = parse_tags(record.get("tags") or "", line)
            rows.append(Row(line, item_id, (label.strip() or None) if label is not None else None, tags))
    return rows, failures, "label" in columns


def import_labels(session: Session, dataset_id: str, path: Path) -> ImportReport:
    items = [Item.of(body) for body in session.pages(transfer.item_path(dataset_id))]
    rows, failures, has_labels = read_rows(path, items)
    report = ImportReport(failures=failures)
    if has_labels:
        entries = [{"item_id": r.item_id, "label": r.label} for r in rows]
        for start in range(0, len(entries), BULK):
            body = session.call(
                "POST", f"/api/datasets/{dataset_id}/labels", json={"labels": entries[start : start + BULK]}
            )
            report.labelled += _tally(body["results"], report.failures, "label")
    groups: dict[tuple, list[str]] = defaultdict(list)  # one bulk request per distinct set of tags
    for row in rows:
        if row.tags:
            groups[row.tags].append(row.item_id)
    for tags, ids in groups.items():
        for start in range(0, len(ids), BULK):
            body = {"item_ids": ids[start : start + BULK], "tags": dict(tags)}
            results = session.call("POST", f"/api/datasets/{dataset_id}/bulk/tags", json=body)["results"]
            report.tagged += _tally(results, report.failures, "tags")
    return report


def _tally(results: list[dict], failures: list[str], what: str) -> int:
    ok = 0
    for result in results:
        if result["status"] == 200:
            ok += 1
        else:
            failures.append(f"item {result['item_id']}: {what} refused: {result['status']} {result.get('error', '')}")
    return ok
