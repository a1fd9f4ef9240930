"""Embeddings from the engine: the spec's embedding_output, vector parts beside the prediction parts,
embedding-only and classifier+embedding jobs, failed items, exact resumes, and models the check refuses."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from edna_engine import outputs as o
from edna_engine import pipeline
from edna_engine.model import Model
from edna_engine.model_check import validate_model
from edna_engine.preprocess import as_item, preprocess
from edna_engine.spec import parse_spec, spec_errors
from onnx import TensorProto, helper, numpy_helper

from tests.engine.digits import (
    DIGITS_SPEC,
    ITEMS,
    MODEL,
    OUT,
    Crash,
    CrashingStorage,
    MemoryStorage,
    digit_items,
    digits_model,
    job,
    seed,
)

DIMS = 12
EMBEDDING_SPEC = {**DIGITS_SPEC, "class_names": [], "embedding_output": "embedding"}
BOTH_SPEC = {**DIGITS_SPEC, "embedding_output": "embedding"}


def embedding_model(
    dims: int = DIMS, classes: bool = False, declared: bool = True, rank: int = 2, double: bool = False
) -> bytes:
    """[N, 64] → "embedding" [N, dims] (x·W, fixed random W), plus "probabilities" [N, 10] when `classes`;
    `declared` False leaves D out of the graph's signature; rank 3 or double make a bad embedding output."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(64, dims)).astype(np.float32), "w")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["raw"])]
    if rank == 3:
        weights.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"))
        nodes.append(helper.make_node("Unsqueeze", ["raw", "axis"], ["embedding"]))
    elif double:
        nodes.append(helper.make_node("Cast", ["raw"], ["embedding"], to=TensorProto.DOUBLE))
    else:
        nodes.append(helper.make_node("Identity", ["raw"], ["embedding"]))
    shape = ["N", 1, dims] if rank == 3 else ["N", dims if declared else "D"]
    kind = TensorProto.DOUBLE if double else TensorProto.FLOAT
    graph_outputs = [helper.make_tensor_value_info("embedding", kind, shape)]
    if classes:
        weights.append(numpy_helper.from_array(rng.normal(size=(dims, 10)).astype(np.float32), "c"))
        nodes += [
            helper.make_node("MatMul", ["raw", "c"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ]
        graph_outputs.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10]))
    graph = helper.make_graph(
        nodes, "embed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])], graph_outputs, weights
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def seeded(model: bytes, spec: dict, count: int = 100) -> MemoryStorage:
    store = MemoryStorage()
    seed(store, digit_items(count, ITEMS), model, MODEL, spec)
    return store


def run(storage, params) -> dict:
    for shard in pipeline.plan(storage, params):
        pipeline.infer_shard(storage, params, shard)
    pipeline.evaluate(storage, params)
    return pipeline.finalize(storage, params)


def matrix(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def vectors_by_key(storage, out: str = OUT) -> dict[str, np.ndarray]:
    """Each line's vector, after checking that every part has its vector part, row for line."""
    parts, vector_parts = storage.keys(out + "parts/"), storage.keys(o.vectors_prefix(out))
    assert [o.vector_key(out, *map(int, k.rsplit("/", 1)[1][:-6].split("-"))) for k in parts] == vector_parts
    found = {}
    for part, vector_part in zip(parts, vector_parts, strict=True):
        lines = storage.get(part).splitlines()
        vectors = matrix(storage.get(vector_part))
        assert vectors.dtype == np.float32 and vectors.shape == (len(lines), DIMS)
        for line, row in zip(lines, vectors, strict=True):
            found[json.loads(line)["key"]] = row
    return found


def expected_vector(storage, key: str) -> np.ndarray:
    """The item as the engine preprocesses it, times the model's W."""
    spec = parse_spec(EMBEDDING_SPEC)
    x = as_item(preprocess(storage.get(key), spec), spec).reshape(1, -1)
    w = np.random.default_rng(0).normal(size=(64, DIMS)).astype(np.float32)
    return (x @ w)[0]


def test_spec_rules_for_embedding_output():
    assert spec_errors(EMBEDDING_SPEC) == [] and spec_errors(BOTH_SPEC) == []
    assert not parse_spec(EMBEDDING_SPEC).classifies and parse_spec(BOTH_SPEC).classifies
    assert parse_spec(EMBEDDING_SPEC).embedding_output == "embedding"
    assert parse_spec(DIGITS_SPEC).embedding_output is None
    (no_classes,) = spec_errors({**DIGITS_SPEC, "class_names": []})
    assert "class_names" in no_classes and "embedding_output" in no_classes
    assert spec_errors({**EMBEDDING_SPEC, "class_names": ["one"]})  # one class is never enough
    for bad in ("", 7, ["embedding"]):
        (error,) = spec_errors({**EMBEDDING_SPEC, "embedding_output": bad})
        assert error.startswith("embedding_output must be a non-empty string")
    (same,) = spec_errors({**BOTH_SPEC, "output": {"name": "embedding"}})
    assert "must name different outputs" in same


@pytest.mark.parametrize("shards", [1, 3])
def test_an_embedding_only_job_writes_a_vector_per_line_and_no_predictions(shards):
    storage = seeded(embedding_model(), EMBEDDING_SPEC)
    status = run(storage, job(shards=shards))
    assert status["status"] == "succeeded" and status["progress"] == {"done": 100, "total": 100}
    lines = storage.lines(OUT + "parts/")
    assert len(lines) == 100
    assert all((p["predicted"], p["score"], p["margin"], p["top"]) == (None, None, None, {}) for p in lines)
    assert all("error" not in p for p in lines)
    vectors = vectors_by_key(storage)
    assert set(vectors) == set(storage.keys(ITEMS))
    for key in storage.keys(ITEMS)[:5]:
        np.testing.assert_allclose(vectors[key], expected_vector(storage, key), rtol=1e-4, atol=1e-3)
    metrics = status["metrics"]
    assert metrics["items"] == 100 and metrics["errors"] == 0 and metrics["embedding_dims"] == DIMS
    assert "accuracy" not in metrics and "confusion" not in metrics and metrics["compute_seconds"] >= 0
    page, _ = pipeline.predictions_page(storage, OUT, None, 30)
    assert len(page) == 30 and page[0]["top"] == {}


def test_a_classifier_with_an_embedding_output_makes_both_from_one_model():
    storage = seeded(embedding_model(classes=True), BOTH_SPEC)
    model = Model(storage.get(MODEL), parse_spec(BOTH_SPEC))
    assert model.output_name == "probabilities" and model.embedding_dims == DIMS
    status = run(storage, job(shards=2))
    lines = storage.lines(OUT + "parts/")
    assert all(p["predicted"] in BOTH_SPEC["class_names"] and len(p["top"]) == 10 for p in lines)
    assert len(vectors_by_key(storage)) == 100
    metrics = status["metrics"]
    assert metrics["evaluated"] == 100 and metrics["accuracy"] is not None and metrics["embedding_dims"] == DIMS


def test_a_classifier_without_embedding_output_writes_no_vectors():
    storage = seeded(digits_model("logistic"), DIGITS_SPEC)
    status = run(storage, job())
    assert storage.keys(o.vectors_prefix(OUT)) == [] and "embedding_dims" not in status["metrics"]


def test_the_class_output_is_picked_among_the_other_outputs():
    # An embedding as wide as the classes, listed first: it must not be taken for the scores.
    model = Model(embedding_model(dims=10, classes=True), parse_spec(BOTH_SPEC))
    assert model.output_name == "probabilities"
    assert Model(embedding_model(dims=10), parse_spec(EMBEDDING_SPEC)).output_name is None


@pytest.mark.parametrize("declared", [True, False])
def test_failed_items_get_zero_rows_even_in_a_batch_with_nothing_else(declared):
    storage = seeded(embedding_model(declared=declared), EMBEDDING_SPEC, count=12)
    bad = [f"{ITEMS}zz-bad-{n}/x.png" for n in range(4)]  # the last keys: the last batch fails whole
    for key in bad:
        storage.put(key, b"not a png")
    status = run(storage, job(batch_size=4))
    vectors = vectors_by_key(storage)
    assert all(not vectors[key].any() for key in bad)
    assert all(vectors[key].any() for key in storage.keys(ITEMS) if key not in bad)
    assert status["metrics"]["errors"] == 4 and status["metrics"]["embedding_dims"] == DIMS
    last = matrix(storage.get(o.vector_key(OUT, 0, 3)))  # 16 items at 4 per batch: the 4 bad ones
    assert last.shape == (4, DIMS) and not last.any()


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize(("marker", "crash_at"), [("/parts/", 1), ("/parts/", 4), ("/vectors/", 1), ("/vectors/", 5)])
def test_a_resumed_job_writes_the_bytes_of_an_uninterrupted_one(marker, crash_at, declared):
    storage = seeded(embedding_model(classes=True, declared=declared), BOTH_SPEC)
    storage.put(ITEMS + "00050-bad/x.png", b"not a png")
    params = job()  # 101 items at 16 per batch: 7 parts
    pipeline.plan(storage, params)
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, crash_at, marker=marker), params, 0)
    resumed = pipeline.infer_shard(storage, params, 0)
    fresh_params = job(output_prefix="jobs/j2/")
    pipeline.plan(storage, fresh_params)
    fresh = pipeline.infer_shard(storage, fresh_params, 0)
    assert resumed["parts"] == fresh["parts"] == 7 and resumed["items"] == fresh["items"] == 101
    for prefix in ("parts/", "vectors/"):
        mine = {k[len(OUT) :]: storage.get(k) for k in storage.keys(OUT + prefix)}
        theirs = {k[len("jobs/j2/") :]: storage.get(k) for k in storage.keys("jobs/j2/" + prefix)}
        assert mine == theirs, prefix


def test_evaluate_of_a_cancelled_embedding_job_counts_what_was_written():
    storage = seeded(embedding_model(), EMBEDDING_SPEC)
    params = job()
    pipeline.plan(storage, params)
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, 3), params, 0)
    pipeline.cancel(storage, params)
    status = pipeline.finalize(storage, params)
    assert status["status"] == "cancelled"
    assert status["metrics"]["items"] == 32 and status["metrics"]["embedding_dims"] == DIMS


@pytest.mark.parametrize(
    ("model", "spec", "words"),
    [
        (embedding_model(rank=3), EMBEDDING_SPEC, "must be float [N, D]"),
        (embedding_model(double=True), EMBEDDING_SPEC, "must be float [N, D]"),
        (embedding_model(), {**EMBEDDING_SPEC, "embedding_output": "features"}, "'features' is not among"),
        (embedding_model(rank=3, classes=True), BOTH_SPEC, "must be float [N, D]"),
    ],
    ids=["rank-3", "double", "missing", "classifier-rank-3"],
)
def test_a_bad_embedding_output_is_refused_by_the_check_and_the_engine(model, spec, words):
    (error,) = validate_model(model, spec)
    assert words in error
    with pytest.raises(ValueError, match=r"does not fit its model\.json"):
        Model(model, parse_spec(spec))
