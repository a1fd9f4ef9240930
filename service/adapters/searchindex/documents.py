"""Pure OpenSearch/Elasticsearch documents and query bodies for the SearchIndex port (no client here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from service.adapters.searchindex import AVAILABLE, PENDING, DatasetStats, ItemQuery, ItemRecord

DELETED = "deleted"
DEFAULT_INDEX = "edna-items"
# A terms aggregation returns 10 buckets unless told otherwise; label classes are a short list.
LABEL_BUCKETS = 1000

_KEYWORDS = ("tenant", "dataset_id", "item_id", "label", "status", "content_type", "created_by")
_FLOATS = ("created_at", "updated_at", "observed_at")
_INTS = ("size", "annotations")
_FIELDS = tuple(f.name for f in dataclasses.fields(ItemRecord))

MAPPING: dict[str, Any] = {
    # Unknown fields stay in _source without growing the mapping; every record field is listed.
    "dynamic": False,
    "properties": {
        **{name: {"type": "keyword"} for name in _KEYWORDS},
        "filename": {"type": "keyword"},
        "size": {"type": "long"},
        # Doubles, not dates: the floats come back exactly as written.
        **{name: {"type": "double"} for name in _FLOATS},
        "etag": {"type": "keyword", "index": False, "doc_values": False},
        "upload_id": {"type": "keyword", "index": False, "doc_values": False},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "thumbnail": {"type": "boolean"},
        "annotations": {"type": "integer"},
        # Tag keys are user input: indexing them as fields would explode the mapping.
        "tags": {"type": "object", "enabled": False},
        "text": {"type": "text", "analyzer": "edna_text"},
    },
}

SETTINGS: dict[str, Any] = {
    "analysis": {
        "tokenizer": {
            # Standard tokenization keeps "0001.png" whole; split on anything not a letter or digit.
            "edna_split": {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"},
        },
        "analyzer": {
            "edna_text": {
                "type": "custom",
                "tokenizer": "edna_split",
                "filter": ["lowercase", "asciifolding"],
            },
        },
    },
}


def index_body() -> dict[str, Any]:
    """The body that creates the items index: analysis settings and the mapping."""
    return {"settings": SETTINGS, "mappings": MAPPING}


def doc_id(tenant: str, item_id: str) -> str:
    """The document id of one item; item ids are unique within a tenant."""
    return f"{tenant}:{item_id}"


def version_of(observed_at: float) -> int:
    """External version: observation time in microseconds, so later observations win."""
    return round(observed_at * 1_000_000)


def to_document(record: ItemRecord) -> dict[str, Any]:
    """The document of one record; None values are left out, `text` feeds full-text search."""
    values = {name: getattr(record, name) for name in _FIELDS}
    doc: dict[str, Any] = {name: value for name, value in values.items() if value is not None}
    doc["tags"] = dict(record.tags)
    label = [record.label] if record.label else []
    doc["text"] = [record.filename, *label, *record.tags, *record.tags.values()]
    return doc


def tombstone(tenant: str, dataset_id: str, item_id: str, observed_at: float) -> dict[str, Any]:
    """The document a delete leaves so an older upsert arriving later loses."""
    return {
        "tenant": tenant,
        "dataset_id": dataset_id,
        "item_id": item_id,
        "status": DELETED,
        "observed_at": observed_at,
    }


def from_document(source: dict[str, Any]) -> ItemRecord:
    """The record of a live item's document; fields the record lacks (`text`) are ignored."""
    values = {name: source[name] for name in _FIELDS if name in source}
    for name in _FLOATS:
        if name in values:
            values[name] = float(values[name])
    for name in _INTS:
        if name in values:
            values[name] = int(values[name])
    values["tags"] = {str(k): str(v) for k, v in (source.get("tags") or {}).items()}
    return ItemRecord(**values)


def is_live(source: dict[str, Any]) -> bool:
    """Whether a document is an item rather than a tombstone."""
    return source.get("status") != DELETED


def _term(field: str, value: Any) -> dict[str, Any]:
    return {"term": {field: value}}


def search_body(tenant: str, query: ItemQuery, limit: int, after: str | None) -> dict[str, Any]:
    """One page of live items matching `query`, ordered by item id, strictly after `after`."""
    filters = [_term("tenant", tenant)]
    for field in ("dataset_id", "label", "status", "content_type"):
        value = getattr(query, field)
        if value is not None:
            filters.append(_term(field, value))
    must_not: list[dict[str, Any]] = [_term("status", DELETED)]
    if query.unlabeled:
        must_not.append({"exists": {"field": "label"}})
    boolean: dict[str, Any] = {"filter": filters, "must_not": must_not}
    if query.q and query.q.strip():
        # Every typed term must match; the last one may still be half typed ("digit-00").
        boolean["must"] = [{"match_bool_prefix": {"text": {"query": query.q, "operator": "and"}}}]
    body: dict[str, Any] = {
        "query": {"bool": boolean},
        "sort": [{"item_id": "asc"}],
        "size": limit,
        # Pages are cursors, not counts: skip counting every match.
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = [after]
    return body


def pending_body(tenant: str, dataset_id: str, limit: int, after: str | None) -> dict[str, Any]:
    """One page of a dataset's pending items (their uploads must be aborted on delete)."""
    return search_body(tenant, ItemQuery(dataset_id=dataset_id, status=PENDING), limit, after)


def records_of(response: dict[str, Any]) -> list[ItemRecord]:
    """The records of a search response's hits."""
    return [from_document(hit["_source"]) for hit in response["hits"]["hits"]]


def stats_body(tenant: str, dataset_id: str) -> dict[str, Any]:
    """Count, bytes and per-label counts of a dataset's available items."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {
            "bool": {
                "filter": [
                    _term("tenant", tenant),
                    _term("dataset_id", dataset_id),
                    _term("status", AVAILABLE),
                ]
            }
        },
        "aggs": {
            "bytes": {"sum": {"field": "size"}},
            "labels": {"terms": {"field": "label", "size": LABEL_BUCKETS}},
        },
    }


def holdings_body(tenant: str) -> dict[str, Any]:
    """Count and bytes of a tenant's available and pending items."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [_term("tenant", tenant), {"terms": {"status": [AVAILABLE, PENDING]}}]}},
        "aggs": {"bytes": {"sum": {"field": "size"}}},
    }


def parse_holdings(response: dict[str, Any]) -> tuple[int, int]:
    total = response["hits"]["total"]
    count = total["value"] if isinstance(total, dict) else total
    return int(count), int(response["aggregations"]["bytes"]["value"] or 0)


def parse_stats(response: dict[str, Any]) -> DatasetStats:
    """DatasetStats from the response to `stats_body`."""
    total = response["hits"]["total"]
    # Elasticsearch 6 answered a bare number; later servers an object with a relation.
    count = total["value"] if isinstance(total, dict) else total
    aggs = response["aggregations"]
    return DatasetStats(
        item_count=int(count),
        bytes=int(aggs["bytes"]["value"] or 0),
        label_counts={b["key"]: int(b["doc_count"]) for b in aggs["labels"]["buckets"]},
    )


TENANT_BUCKETS = 10_000


def tenants_body() -> dict[str, Any]:
    """Every tenant with documents (a rebuild sweeps tenants that storage no longer has)."""
    return {
        "size": 0,
        "query": {"bool": {"filter": []}},
        "aggs": {"tenants": {"terms": {"field": "tenant", "size": TENANT_BUCKETS}}},
    }


def parse_tenants(response: dict[str, Any]) -> list[str]:
    return sorted(b["key"] for b in response["aggregations"]["tenants"]["buckets"])


def dataset_query(tenant: str, dataset_id: str) -> dict[str, Any]:
    """Every document of one dataset, tombstones included (delete_by_query body)."""
    return {"query": {"bool": {"filter": [_term("tenant", tenant), _term("dataset_id", dataset_id)]}}}


def sweep_query(tenant: str, observed_before: float) -> dict[str, Any]:
    """Available items and tombstones of a tenant not observed since `observed_before`."""
    return {
        "query": {
            "bool": {
                "filter": [
                    _term("tenant", tenant),
                    {"range": {"observed_at": {"lt": observed_before}}},
                    {"terms": {"status": [AVAILABLE, DELETED]}},
                ]
            }
        }
    }


def bulk_actions(index: str, records: Iterable[ItemRecord]) -> list[dict[str, Any]]:
    """Bulk `index` action/document pairs, externally versioned like single upserts."""
    lines: list[dict[str, Any]] = []
    for record in records:
        meta = {
            "_index": index,
            "_id": doc_id(record.tenant, record.item_id),
            "version": version_of(record.observed_at),
            "version_type": "external_gte",
        }
        lines += [{"index": meta}, to_document(record)]
    return lines
