"""Unit tests of the pure document and query module shared by the OpenSearch and Elasticsearch clients."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from service.adapters.searchindex import DatasetStats, ItemQuery, ItemRecord
from service.adapters.searchindex import documents as docs

KEYWORDS = ["tenant", "dataset_id", "item_id", "label", "status", "content_type", "created_by"]

RECORD = ItemRecord(
    tenant="t1",
    dataset_id="d1",
    item_id="i-0001",
    filename="digit-0001.png",
    content_type="image/png",
    size=1234,
    status="available",
    created_at=1_700_000_000.125,
    created_by="ann",
    label="seven",
    tags={"source": "scanner-2", "ünïcode key": "välue / with: punctuation", "a.b": ""},
    etag='"abc"',
    upload_id="",
    updated_at=1_700_000_100.5,
    width=8,
    height=8,
    thumbnail=True,
    annotations=2,
    observed_at=1_700_000_200.000001,
)


def wire(value):
    """What comes back from the server: the document as JSON and back."""
    return json.loads(json.dumps(value))


def test_mapping_has_keyword_filters_and_one_full_text_field():
    props = docs.index_body()["mappings"]["properties"]
    for name in KEYWORDS:
        assert props[name] == {"type": "keyword"}, name
    assert props["text"] == {"type": "text", "analyzer": "edna_text"}
    # Arbitrary user tag keys must never become mapped fields.
    assert props["tags"] == {"type": "object", "enabled": False}
    assert {f.name for f in dataclasses.fields(ItemRecord)} <= set(props)
    for name in ("created_at", "updated_at", "observed_at"):
        assert props[name]["type"] == "double"


def test_analyzer_splits_file_names_on_anything_but_letters_and_digits():
    analysis = docs.index_body()["settings"]["analysis"]
    analyzer = analysis["analyzer"]["edna_text"]
    tokenizer = analysis["tokenizer"][analyzer["tokenizer"]]
    assert tokenizer == {"type": "pattern", "pattern": "[^\\p{L}\\p{N}]+"}
    assert analyzer["filter"][0] == "lowercase"
    # The Java pattern survives JSON as written (a doubled backslash would be a literal).
    assert json.loads(json.dumps(tokenizer))["pattern"] == r"[^\p{L}\p{N}]+"


def test_document_round_trips_every_field_through_json():
    doc = docs.to_document(RECORD)
    assert docs.from_document(wire(doc)) == RECORD
    assert doc["text"] == ["digit-0001.png", "seven", *RECORD.tags, *RECORD.tags.values()]


def test_missing_label_and_sizes_stay_missing():
    record = dataclasses.replace(RECORD, label=None, width=None, height=None, tags={})
    doc = docs.to_document(record)
    assert "label" not in doc and "width" not in doc and "height" not in doc
    assert doc["text"] == ["digit-0001.png"]
    assert docs.from_document(wire(doc)) == record


def test_integral_floats_come_back_as_floats():
    doc = wire(docs.to_document(RECORD)) | {"created_at": 1_700_000_000, "size": 1234.0}
    record = docs.from_document(doc)
    assert isinstance(record.created_at, float) and isinstance(record.size, int)


def test_ids_versions_and_tombstones():
    assert docs.doc_id("t1", "i-0001") == "t1:i-0001"
    assert docs.version_of(1_700_000_200.000001) == 1_700_000_200_000_001
    assert docs.version_of(0.0) == 0
    times = [1.0, 1.0000005, 1.000001, 2.5, 1_800_000_000.999999]
    assert [docs.version_of(t) for t in times] == sorted(docs.version_of(t) for t in times)
    tomb = docs.tombstone("t1", "d1", "i-0001", 5.0)
    assert tomb == {"tenant": "t1", "dataset_id": "d1", "item_id": "i-0001"} | {
        "status": "deleted",
        "observed_at": 5.0,
    }
    assert not docs.is_live(tomb) and docs.is_live(docs.to_document(RECORD))


FILTERS = {
    "dataset_id": "d1",
    "label": "cat",
    "unlabeled": True,
    "status": "pending",
    "content_type": "image/png",
    "q": "digit-00",
}


@pytest.mark.parametrize(
    "chosen",
    [c for n in range(len(FILTERS) + 1) for c in itertools.combinations(FILTERS, n)],
    ids=lambda c: "+".join(c) or "none",
)
def test_search_body_for_every_filter_combination(chosen):
    query = ItemQuery(**{name: FILTERS[name] for name in chosen})
    body = docs.search_body("t1", query, 25, None)
    boolean = body["query"]["bool"]
    assert boolean["filter"][0] == {"term": {"tenant": "t1"}}
    terms = {k: v for f in boolean["filter"] for k, v in f["term"].items()}
    expected = {n: FILTERS[n] for n in ("dataset_id", "label", "status", "content_type") if n in chosen}
    assert terms == {"tenant": "t1", **expected}
    assert boolean["must_not"][0] == {"term": {"status": "deleted"}}
    assert ({"exists": {"field": "label"}} in boolean["must_not"]) == ("unlabeled" in chosen)
    if "q" in chosen:
        prefix = {"match_bool_prefix": {"text": {"query": "digit-00", "operator": "and"}}}
        assert boolean["must"] == [prefix]
    else:
        assert "must" not in boolean
    assert body["sort"] == [{"item_id": "asc"}]
    assert body["size"] == 25
    assert "search_after" not in body


@pytest.mark.parametrize("q", ["", "   ", None])
def test_blank_text_adds_no_full_text_clause(q):
    assert "must" not in docs.search_body("t1", ItemQuery(q=q), 10, None)["query"]["bool"]


def test_next_page_starts_after_the_last_item_id():
    body = docs.search_body("t1", ItemQuery(dataset_id="d1"), 10, "i-0042")
    assert body["search_after"] == ["i-0042"]
    assert body["track_total_hits"] is False


def test_pending_body_asks_for_pending_items_of_one_dataset():
    body = docs.pending_body("t1", "d1", 500, "x")
    assert {"term": {"status": "pending"}} in body["query"]["bool"]["filter"]
    assert {"term": {"dataset_id": "d1"}} in body["query"]["bool"]["filter"]
    assert body["search_after"] == ["x"] and body["size"] == 500


def test_records_of_a_search_response():
    source = wire(docs.to_document(RECORD))
    hit = {"_index": "edna-items", "_id": "t1:i-0001", "_score": None, "_source": source, "sort": ["i-0001"]}
    response = {"took": 3, "timed_out": False, "hits": {"max_score": None, "hits": [hit]}}
    assert docs.records_of(response) == [RECORD]


def test_stats_body_counts_available_items_of_one_dataset():
    body = docs.stats_body("t1", "d1")
    assert body["size"] == 0 and body["track_total_hits"] is True
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tenant": "t1"}},
        {"term": {"dataset_id": "d1"}},
        {"term": {"status": "available"}},
    ]
    assert body["aggs"] == {
        "bytes": {"sum": {"field": "size"}},
        "labels": {"terms": {"field": "label", "size": docs.LABEL_BUCKETS}},
    }


def test_stats_from_a_realistic_aggregation_response():
    response = {
        "took": 4,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 5, "relation": "eq"}, "max_score": None, "hits": []},
        "aggregations": {
            "labels": {
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": 0,
                "buckets": [{"key": "cat", "doc_count": 3}, {"key": "dog", "doc_count": 1}],
            },
            "bytes": {"value": 52_428_800.0},
        },
    }
    assert docs.parse_stats(response) == DatasetStats(5, 52_428_800, {"cat": 3, "dog": 1})


def test_stats_of_an_empty_dataset():
    response = {
        "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
        "aggregations": {"labels": {"buckets": []}, "bytes": {"value": 0.0}},
    }
    assert docs.parse_stats(response) == DatasetStats(0, 0, {})


def test_delete_dataset_query_includes_tombstones():
    assert docs.dataset_query("t1", "d1") == {
        "query": {"bool": {"filter": [{"term": {"tenant": "t1"}}, {"term": {"dataset_id": "d1"}}]}}
    }


def test_sweep_query_keeps_pending_items_and_newer_observations():
    assert docs.sweep_query("t1", 1234.5) == {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"tenant": "t1"}},
                    {"range": {"observed_at": {"lt": 1234.5}}},
                    {"terms": {"status": ["available", "deleted"]}},
                ]
            }
        }
    }


def test_bulk_actions_are_versioned_like_single_writes():
    other = dataclasses.replace(RECORD, item_id="i-0002", observed_at=3.0)
    lines = docs.bulk_actions("edna-items", [RECORD, other])
    assert lines[0] == {
        "index": {
            "_index": "edna-items",
            "_id": "t1:i-0001",
            "version": 1_700_000_200_000_001,
            "version_type": "external_gte",
        }
    }
    assert lines[1] == docs.to_document(RECORD)
    assert lines[2]["index"]["_id"] == "t1:i-0002" and lines[2]["index"]["version"] == 3_000_000
    assert len(lines) == 4
