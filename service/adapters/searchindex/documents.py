"""Pure OpenSearch/Elasticsearch documents and query bodies for the SearchIndex port (no client here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from service.adapters.searchindex import (
    AVAILABLE,
    PENDING,
    SORTS,
    ItemQuery,
    ItemRecord,
    Prediction,
    mistake_score,
    parse_position,
    sort_value,
)

DELETED = "deleted"
DEFAULT_INDEX = "edna-items"
_KEYWORDS = ("tenant", "dataset_id", "item_id", "label", "status", "content_type", "created_by", "label_source")
_FLOATS = ("created_at", "updated_at", "observed_at")
_INTS = ("size", "annotations")
_FIELDS = tuple(f.name for f in dataclasses.fields(ItemRecord) if f.name != "predictions")
NESTED = "predictions"

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
        "sha256": {"type": "keyword", "index": False, "doc_values": False},
        "preview_refused": {"type": "keyword", "index": False, "doc_values": False},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "thumbnail": {"type": "boolean"},
        "annotations": {"type": "integer"},
        # Tag keys are user input: indexing them as fields would explode the mapping.
        "tags": {"type": "object", "enabled": False},
        "text": {"type": "text", "analyzer": "edna_text"},
        # One object per model, nested so that a filter's terms hold on the same model's prediction.
        NESTED: {
            "type": "nested",
            "properties": {
                "model_id": {"type": "keyword"},
                "job_id": {"type": "keyword"},
                "predicted": {"type": "keyword"},
                **{name: {"type": "double"} for name in ("score", "margin", "mistake", "finished_at")},
                "probs": {"type": "object", "enabled": False},  # class names are user input, like tag keys
                "disagrees": {"type": "boolean"},
            },
        },
        "mistake": {"type": "double"},  # the mean over the item's models (sort=mistake without a model)
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
    """The document of one record; None values are left out, `text` feeds full-text search.
    Each prediction carries what the label makes of it (`disagrees`, `mistake`), and the item its mean
    mistake: computed here with the port's own functions, so the sort values equal the cursors'."""
    values = {name: getattr(record, name) for name in _FIELDS}
    doc: dict[str, Any] = {name: value for name, value in values.items() if value is not None}
    doc["tags"] = dict(record.tags)
    label = [record.label] if record.label else []
    doc["text"] = [record.filename, *label, *record.tags, *record.tags.values()]
    doc[NESTED] = [_prediction_doc(p, record.label) for p in record.predictions]
    mean = sort_value(record, ItemQuery(sort="mistake"))
    if mean is not None:
        doc["mistake"] = mean
    return doc


def _prediction_doc(prediction: Prediction, label: str | None) -> dict[str, Any]:
    doc = {name: getattr(prediction, name) for name in ("model_id", "job_id", "predicted", "score", "margin")}
    doc = {name: value for name, value in doc.items() if value is not None}
    doc |= {"probs": dict(prediction.probs), "finished_at": prediction.finished_at}
    doc["disagrees"] = label is not None and prediction.predicted is not None and prediction.predicted != label
    mistake = mistake_score(prediction, label)
    return doc if mistake is None else doc | {"mistake": mistake}


def predictions_of(source: dict[str, Any]) -> tuple[Prediction, ...]:
    """The predictions a document holds, sorted by model id (a tombstone holds none)."""
    found = [
        Prediction(
            model_id=p["model_id"],
            job_id=p["job_id"],
            predicted=p.get("predicted"),
            score=None if p.get("score") is None else float(p["score"]),
            margin=None if p.get("margin") is None else float(p["margin"]),
            probs={str(k): float(v) for k, v in (p.get("probs") or {}).items()},
            finished_at=float(p.get("finished_at", 0.0)),
        )
        for p in source.get(NESTED) or []
    ]
    return tuple(sorted(found, key=lambda p: p.model_id))


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
    return ItemRecord(**values, predictions=predictions_of(source))


def is_live(source: dict[str, Any]) -> bool:
    """Whether a document is an item rather than a tombstone."""
    return source.get("status") != DELETED


def term(field: str, value: Any) -> dict[str, Any]:
    return {"term": {field: value}}


def search_body(tenant: str, query: ItemQuery, limit: int, after: str | None) -> dict[str, Any]:
    """One page of live items matching `query` in `query.sort` order, strictly after the position `after`."""
    column, descending = SORTS[query.sort]
    filters = [term("tenant", tenant)]
    for field in ("dataset_id", "label", "status", "content_type"):
        value = getattr(query, field)
        if value is not None:
            filters.append(term(field, value))
    must_not: list[dict[str, Any]] = [term("status", DELETED)]
    if query.hidden:
        must_not.append({"terms": {"dataset_id": list(query.hidden)}})
    start, after_id = (None, None) if after is None else parse_position(query, after)
    # After an unlabelled item under the label sort only unlabelled ones follow (a missing label sorts
    # last either way), in item id order: search_after takes no null.
    unlabelled_after = column == "label" and after is not None and start is None
    if query.unlabeled or unlabelled_after:
        must_not.append({"exists": {"field": "label"}})
    prediction = _prediction_filter(query)
    if prediction is not None:
        filters.append(prediction)
    elif column == "mistake":
        filters.append({"exists": {"field": "mistake"}})  # the sort keeps only the items that have its value
    boolean: dict[str, Any] = {"filter": filters, "must_not": must_not}
    if query.q and query.q.strip():
        # Every typed term must match; the last one may still be half typed ("digit-00").
        boolean["must"] = [{"match_bool_prefix": {"text": {"query": query.q, "operator": "and"}}}]
    body: dict[str, Any] = {
        "query": {"bool": boolean},
        "sort": [{"item_id": "asc"}] if unlabelled_after else _sort(query, column, descending),
        "size": limit,
        # Pages are cursors, not counts: skip counting every match.
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = [after_id] if column == "item_id" or unlabelled_after else [start, after_id]
    return body


def count_body(tenant: str, query: ItemQuery) -> dict[str, Any]:
    """Every live item matching `query`'s filters, counted exactly and none returned."""
    body = search_body(tenant, dataclasses.replace(query, sort="id"), 0, None)
    del body["sort"]
    return body | {"track_total_hits": True}


def parse_count(response: dict[str, Any]) -> int:
    return response["hits"]["total"]["value"]


def _prediction_filter(query: ItemQuery) -> dict[str, Any] | None:
    """One nested clause, so that every condition holds on the same prediction: the one of `model_id`."""
    column = SORTS[query.sort][0]
    bounds = {op: v for op, v in (("gte", query.min_score), ("lte", query.max_score)) if v is not None}
    if query.model_id is None:
        if column in ("score", "margin") or query.predicted is not None or query.disagrees or bounds:
            raise ValueError("sorting by score or margin, and the prediction filters, need a model_id")
        return None
    inner = [term(f"{NESTED}.model_id", query.model_id)]
    if query.predicted is not None:
        inner.append(term(f"{NESTED}.predicted", query.predicted))
    if query.disagrees:
        inner.append(term(f"{NESTED}.disagrees", True))
    if bounds:
        inner.append({"range": {f"{NESTED}.score": bounds}})
    if column in ("score", "margin", "mistake"):
        inner.append({"exists": {"field": f"{NESTED}.{column}"}})
    return {"nested": {"path": NESTED, "query": {"bool": {"filter": inner}}}}


def _sort(query: ItemQuery, column: str, descending: bool) -> list[dict[str, Any]]:
    """The sort, then item_id: ties keep a stable order and search_after a unique position."""
    if column == "item_id":
        return [{"item_id": "asc"}]
    order: dict[str, Any] = {"order": "desc" if descending else "asc"}
    if column == "label":
        return [{"label": order | {"missing": "_last"}}, {"item_id": "asc"}]
    if column in ("filename", "created_at", "size") or query.model_id is None:
        return [{column: order}, {"item_id": "asc"}]
    nested = {"path": NESTED, "filter": term(f"{NESTED}.model_id", query.model_id)}
    return [{f"{NESTED}.{column}": order | {"nested": nested}}, {"item_id": "asc"}]


def older_body(
    tenant: str, dataset_id: str, model_id: str, finished_at: float, limit: int, after: str | None
) -> dict[str, Any]:
    """One page (by item id) of a dataset's items holding a prediction of `model_id` from a job that
    finished before `finished_at`."""
    older = [term(f"{NESTED}.model_id", model_id), {"range": {f"{NESTED}.finished_at": {"lt": finished_at}}}]
    filters = [
        term("tenant", tenant),
        term("dataset_id", dataset_id),
        {"nested": {"path": NESTED, "query": {"bool": {"filter": older}}}},
    ]
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters}},
        "sort": [{"item_id": "asc"}],
        "size": limit,
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


def dataset_query(tenant: str, dataset_id: str) -> dict[str, Any]:
    """Every document of one dataset, tombstones included (delete_by_query body)."""
    return {"query": {"bool": {"filter": [term("tenant", tenant), term("dataset_id", dataset_id)]}}}


def sweep_query(tenant: str, observed_before: float) -> dict[str, Any]:
    """Available items and tombstones of a tenant not observed since `observed_before`."""
    return {
        "query": {
            "bool": {
                "filter": [
                    term("tenant", tenant),
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
