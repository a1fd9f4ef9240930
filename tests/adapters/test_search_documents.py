"""Unit tests of the pure document and query module shared by the OpenSearch and Elasticsearch clients."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from service.adapters.searchindex import SORTS, DatasetStats, ItemQuery, ItemRecord, Prediction, position_of
from service.adapters.searchindex import document_totals as totals
from service.adapters.searchindex import documents as docs

KEYWORDS = ["tenant", "dataset_id", "item_id", "label", "status", "content_type", "created_by", "label_source"]

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
    label_source="person:ann",
)
# Two models: one agrees with the label (seven), one prefers another class.
AGREES = Prediction("m-a", "job-1", "seven", 0.7, 0.5, {"seven": 0.7, "one": 0.2}, 1_700_000_300.5)
DIFFERS = Prediction("m-b", "job-2", "one", 0.6, 0.35, {"one": 0.6, "seven": 0.25, "four": 0.1}, 1_700_000_400.0)
PREDICTED = dataclasses.replace(RECORD, predictions=(AGREES, DIFFERS))


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
    for name in ("created_at", "updated_at", "observed_at", "mistake"):
        assert props[name]["type"] == "double"


def test_predictions_are_nested_so_a_filter_holds_on_one_model():
    nested = docs.index_body()["mappings"]["properties"]["predictions"]
    assert nested["type"] == "nested"
    fields = nested["properties"]
    assert {n: fields[n]["type"] for n in ("model_id", "job_id", "predicted")} == dict.fromkeys(
        ("model_id", "job_id", "predicted"), "keyword"
    )
    assert {n: fields[n]["type"] for n in ("score", "margin", "mistake", "finished_at")} == dict.fromkeys(
        ("score", "margin", "mistake", "finished_at"), "double"
    )
    assert fields["disagrees"] == {"type": "boolean"}
    # Class names are user input: never mapped fields.
    assert fields["probs"] == {"type": "object", "enabled": False}


def test_predictions_carry_what_the_label_makes_of_them_and_round_trip():
    doc = docs.to_document(PREDICTED)
    agrees, differs = doc["predictions"]
    assert agrees | {"probs": None} == {
        "model_id": "m-a",
        "job_id": "job-1",
        "predicted": "seven",
        "score": 0.7,
        "margin": 0.5,
        "probs": None,
        "finished_at": 1_700_000_300.5,
        "disagrees": False,
        "mistake": -0.5,
    }
    assert differs["disagrees"] is True and differs["mistake"] == 0.35
    assert doc["mistake"] == -0.075  # the mean over the models, as sort_value takes it
    assert docs.from_document(wire(doc)) == PREDICTED
    relabelled = docs.to_document(dataclasses.replace(PREDICTED, label="one"))
    assert [p["disagrees"] for p in relabelled["predictions"]] == [True, False]
    unlabelled = docs.to_document(dataclasses.replace(PREDICTED, label=None))
    assert "mistake" not in unlabelled and all("mistake" not in p for p in unlabelled["predictions"])
    assert all(p["disagrees"] is False for p in unlabelled["predictions"])


def test_a_prediction_without_a_score_leaves_it_out():
    bare = Prediction("m-a", "job-1", "seven", None, None, {}, 5.0)
    doc = docs.to_document(dataclasses.replace(RECORD, predictions=(bare,)))
    assert set(doc["predictions"][0]) == {"model_id", "job_id", "predicted", "probs", "finished_at", "disagrees"}
    assert docs.from_document(wire(doc)).predictions == (bare,)


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
    body = totals.stats_body("t1", "d1")
    assert body["size"] == 0 and body["track_total_hits"] is True
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tenant": "t1"}},
        {"term": {"dataset_id": "d1"}},
        {"term": {"status": "available"}},
    ]
    assert body["aggs"] == {
        "bytes": {"sum": {"field": "size"}},
        "labels": {"terms": {"field": "label", "size": totals.LABEL_BUCKETS}},
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
    assert totals.parse_stats(response) == DatasetStats(5, 52_428_800, {"cat": 3, "dog": 1})


def test_stats_of_an_empty_dataset():
    response = {
        "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
        "aggregations": {"labels": {"buckets": []}, "bytes": {"value": 0.0}},
    }
    assert totals.parse_stats(response) == DatasetStats(0, 0, {})


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


def _nested(body):
    """The nested clause of a search body's filters, if any."""
    return next((f["nested"] for f in body["query"]["bool"]["filter"] if "nested" in f), None)


def test_model_filters_are_one_nested_clause_on_that_models_prediction():
    query = ItemQuery(dataset_id="d1", model_id="m-b", predicted="one", disagrees=True, min_score=0.5, max_score=0.9)
    nested = _nested(docs.search_body("t1", query, 10, None))
    assert nested == {
        "path": "predictions",
        "query": {
            "bool": {
                "filter": [
                    {"term": {"predictions.model_id": "m-b"}},
                    {"term": {"predictions.predicted": "one"}},
                    {"term": {"predictions.disagrees": True}},
                    {"range": {"predictions.score": {"gte": 0.5, "lte": 0.9}}},
                ]
            }
        },
    }
    assert _nested(docs.search_body("t1", ItemQuery(model_id="m-b"), 10, None))["query"]["bool"]["filter"] == [
        {"term": {"predictions.model_id": "m-b"}}
    ]
    assert _nested(docs.search_body("t1", ItemQuery(), 10, None)) is None


@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("model", ["m-b", None])
def test_every_sort_pages_on_its_value_then_the_item_id(sort, model):
    query = ItemQuery(dataset_id="d1", model_id=model, sort=sort)
    if model is None and sort in ("score", "-score", "margin"):
        with pytest.raises(ValueError):
            docs.search_body("t1", query, 10, None)
        return
    column, descending = SORTS[sort]
    body = docs.search_body("t1", query, 10, position_of(PREDICTED, query))
    order = "desc" if descending else "asc"
    if column == "item_id":
        assert body["sort"] == [{"item_id": "asc"}] and body["search_after"] == ["i-0001"]
        return
    value = body["search_after"][0]
    assert body["search_after"] == [value, "i-0001"] and body["sort"][1] == {"item_id": "asc"}
    if column in ("filename", "created_at", "size"):
        assert body["sort"][0] == {column: {"order": order}}
        assert value == getattr(PREDICTED, column)
    elif column == "label":  # an unlabelled item, missing the field, sorts last in either direction
        assert body["sort"][0] == {"label": {"order": order, "missing": "_last"}}
        assert PREDICTED.label is not None and value == PREDICTED.label
    elif model is None:  # the mean mistake, kept only where there is one
        assert body["sort"][0] == {"mistake": {"order": "desc"}} and value == -0.075
        assert {"exists": {"field": "mistake"}} in body["query"]["bool"]["filter"]
    else:
        nested = {"path": "predictions", "filter": {"term": {"predictions.model_id": "m-b"}}}
        assert body["sort"][0] == {f"predictions.{column}": {"order": order, "nested": nested}}
        assert {"exists": {"field": f"predictions.{column}"}} in _nested(body)["query"]["bool"]["filter"]
        assert value == {"score": 0.6, "margin": 0.35, "mistake": 0.35}[column]


@pytest.mark.parametrize("sort", ["label", "-label"])
def test_after_an_unlabelled_item_only_unlabelled_ones_follow_by_item_id(sort):
    query = ItemQuery(dataset_id="d1", sort=sort)
    body = docs.search_body("t1", query, 10, position_of(dataclasses.replace(RECORD, label=None), query))
    assert body["sort"] == [{"item_id": "asc"}] and body["search_after"] == ["i-0001"]
    assert {"exists": {"field": "label"}} in body["query"]["bool"]["must_not"]


@pytest.mark.parametrize("after", ["nope", "[1]", '[null, "i-1"]', '["x", "i-1"]', "[0.5, 7]"])
def test_a_malformed_position_is_a_value_error(after):
    with pytest.raises(ValueError):
        docs.search_body("t1", ItemQuery(model_id="m-b", sort="margin"), 10, after)


@pytest.mark.parametrize(
    "query",
    [ItemQuery(disagrees=True), ItemQuery(predicted="one"), ItemQuery(min_score=0.1), ItemQuery(sort="margin")],
)
def test_prediction_filters_and_sorts_need_a_model(query):
    with pytest.raises(ValueError):
        docs.search_body("t1", query, 10, None)


def test_older_body_finds_a_models_predictions_from_jobs_that_finished_before():
    body = docs.older_body("t1", "d1", "m-b", 50.0, 500, "i-9")
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tenant": "t1"}},
        {"term": {"dataset_id": "d1"}},
        {
            "nested": {
                "path": "predictions",
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"predictions.model_id": "m-b"}},
                            {"range": {"predictions.finished_at": {"lt": 50.0}}},
                        ]
                    }
                },
            }
        },
    ]
    assert body["sort"] == [{"item_id": "asc"}] and body["search_after"] == ["i-9"] and body["size"] == 500


def test_predicted_models_from_a_realistic_nested_aggregation():
    body = totals.models_body("t1", "d1")
    assert body["size"] == 0
    assert body["query"]["bool"]["must_not"] == [{"term": {"status": "deleted"}}]
    assert body["aggs"]["predictions"]["nested"] == {"path": "predictions"}
    response = {
        "hits": {"total": {"value": 7, "relation": "eq"}, "hits": []},
        "aggregations": {
            "predictions": {
                "doc_count": 9,
                "models": {
                    "doc_count_error_upper_bound": 0,
                    "sum_other_doc_count": 0,
                    "buckets": [
                        {
                            "key": "m-a",
                            "doc_count": 6,
                            "jobs": {
                                "buckets": [
                                    {"key": "job-old", "doc_count": 4, "finished": {"value": 10.0}},
                                    {"key": "job-new", "doc_count": 2, "finished": {"value": 20.0}},
                                ]
                            },
                        },
                        {
                            "key": "m-b",
                            "doc_count": 3,
                            "jobs": {"buckets": [{"key": "job-2", "doc_count": 3, "finished": {"value": 5.0}}]},
                        },
                    ],
                },
            }
        },
    }
    assert totals.parse_models(response) == {"m-a": ("job-new", 6), "m-b": ("job-2", 3)}
