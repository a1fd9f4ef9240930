"""Aggregation bodies for the OpenSearch/Elasticsearch index, and their answers parsed: a dataset's counts,
a tenant's holdings, the models with predictions, the tenants held."""

from __future__ import annotations

from typing import Any

from service.adapters.searchindex import AVAILABLE, PENDING, DatasetStats
from service.adapters.searchindex.documents import DELETED, NESTED, term

# A terms aggregation returns 10 buckets unless told otherwise; label classes are a short list.
LABEL_BUCKETS = 1000
MODEL_BUCKETS = 1000  # models with predictions on one dataset, and jobs of one model, are short lists
TENANT_BUCKETS = 10_000


def models_body(tenant: str, dataset_id: str) -> dict[str, Any]:
    """Per model with predictions on a dataset's live items: how many, and per job its finish time."""
    jobs = {
        "terms": {"field": f"{NESTED}.job_id", "size": MODEL_BUCKETS},
        "aggs": {"finished": {"max": {"field": f"{NESTED}.finished_at"}}},
    }
    models = {"terms": {"field": f"{NESTED}.model_id", "size": MODEL_BUCKETS}, "aggs": {"jobs": jobs}}
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [term("tenant", tenant), term("dataset_id", dataset_id)],
                "must_not": [term("status", DELETED)],
            }
        },
        "aggs": {NESTED: {"nested": {"path": NESTED}, "aggs": {"models": models}}},
    }


def parse_models(response: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """model_id -> (its latest job, items) from the response to `models_body`."""
    found: dict[str, tuple[str, int]] = {}
    for model in response["aggregations"][NESTED]["models"]["buckets"]:
        jobs = model["jobs"]["buckets"]
        latest = max(jobs, key=lambda job: (job["finished"]["value"] or 0.0, job["key"]))
        found[model["key"]] = (latest["key"], int(model["doc_count"]))
    return found


def stats_body(tenant: str, dataset_id: str) -> dict[str, Any]:
    """Count, bytes and per-label counts of a dataset's available items."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {
            "bool": {
                "filter": [
                    term("tenant", tenant),
                    term("dataset_id", dataset_id),
                    term("status", AVAILABLE),
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
        "query": {"bool": {"filter": [term("tenant", tenant), {"terms": {"status": [AVAILABLE, PENDING]}}]}},
        "aggs": {"bytes": {"sum": {"field": "size"}}},
    }


def _hit_count(response: dict[str, Any]) -> int:
    total = response["hits"]["total"]
    # Elasticsearch 6 answered a bare number; later servers an object with a relation.
    return int(total["value"] if isinstance(total, dict) else total)


def parse_holdings(response: dict[str, Any]) -> tuple[int, int]:
    return _hit_count(response), int(response["aggregations"]["bytes"]["value"] or 0)


def parse_stats(response: dict[str, Any]) -> DatasetStats:
    """DatasetStats from the response to `stats_body`."""
    aggs = response["aggregations"]
    return DatasetStats(
        item_count=_hit_count(response),
        bytes=int(aggs["bytes"]["value"] or 0),
        label_counts={b["key"]: int(b["doc_count"]) for b in aggs["labels"]["buckets"]},
    )


def tenants_body() -> dict[str, Any]:
    """Every tenant with documents (a rebuild sweeps tenants that storage no longer has)."""
    return {
        "size": 0,
        "query": {"bool": {"filter": []}},
        "aggs": {"tenants": {"terms": {"field": "tenant", "size": TENANT_BUCKETS}}},
    }


def parse_tenants(response: dict[str, Any]) -> list[str]:
    return sorted(b["key"] for b in response["aggregations"]["tenants"]["buckets"])
