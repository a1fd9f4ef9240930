"""Each prediction's margin and top classes: against numpy, bounded by TOP_K, unchanged by a resume."""

from __future__ import annotations

import copy

import numpy as np
import onnxruntime
import pytest
from edna_engine import pipeline
from edna_engine.model import TOP_K, rank_classes
from edna_engine.preprocess import as_item, preprocess
from edna_engine.spec import parse_spec
from onnx import TensorProto, helper

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
    seeded_storage,
)

WIDE = 15  # classes of the wide model: more than TOP_K


def wide_model() -> bytes:
    """[N, 64] @ W → [N, WIDE] logits, with seeded random weights so the classes' order varies by row."""
    weights = np.random.default_rng(5).normal(0, 0.05, (64, WIDE)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"])],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", WIDE])],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.flatten())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


WIDE_SPEC = {
    **copy.deepcopy(DIGITS_SPEC),
    "class_names": [f"c{i:02d}" for i in range(WIDE)],
    "output": {"name": "logits", "kind": "logits"},
}


def expected_lines(storage, model_bytes: bytes, spec_doc: dict, output: str) -> list[dict]:
    """Each line's prediction recomputed: onnxruntime on the very batches of the parts, then plain numpy."""
    spec = parse_spec(spec_doc)
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = spec.class_names
    expected = []
    for part in storage.keys(OUT + "parts/"):
        keys = [line["key"] for line in storage.lines(part)]
        batch = np.stack([as_item(preprocess(storage.get(key), spec), spec) for key in keys])
        (scores,) = session.run([output], {session.get_inputs()[0].name: batch})
        rows = scores.astype(np.float64)
        if spec.output_kind == "logits":
            rows = np.exp(rows - rows.max(axis=1, keepdims=True))
            rows /= rows.sum(axis=1, keepdims=True)
        for row in rows:
            order = sorted(range(len(names)), key=lambda c: (-row[c], c))[: min(TOP_K, len(names))]
            first, second = row[order[0]], row[order[1]]
            top = [(names[c], row[c]) for c in order]
            expected.append({"predicted": names[order[0]], "score": first, "margin": first - second, "top": top})
    return expected


def assert_lines_match(lines: list[dict], expected: list[dict]) -> None:
    assert len(lines) == len(expected)
    close = {"abs": 2e-6}  # our 6-digit rounding, and the engine's float32 softmax against numpy's float64
    for line, want in zip(lines, expected, strict=True):
        assert line["predicted"] == want["predicted"], line["key"]
        assert line["score"] == pytest.approx(want["score"], **close)
        assert line["margin"] == pytest.approx(want["margin"], **close)
        assert list(line["top"]) == [name for name, _ in want["top"]], line["key"]
        assert list(line["top"].values()) == pytest.approx([p for _, p in want["top"]], **close)
        assert all(round(p, 6) == p for p in (line["score"], line["margin"], *line["top"].values()))


@pytest.mark.parametrize("kind", ["logistic", "forest"])
def test_margin_and_top_match_numpy_on_a_real_model(kind):
    storage = MemoryStorage()
    seed(storage, digit_items(120, ITEMS), digits_model(kind), MODEL)
    params = job(batch_size=16)
    pipeline.plan(storage, params)
    pipeline.infer_shard(storage, params, 0)
    lines = storage.lines(OUT + "parts/")
    assert_lines_match(lines, expected_lines(storage, digits_model(kind), DIGITS_SPEC, "probabilities"))
    assert all(len(line["top"]) == 10 for line in lines)  # every class of a label set smaller than TOP_K
    if kind == "forest":  # its many equal probabilities (zeros mostly) come in class order
        assert any(len(set(line["top"].values())) < len(line["top"]) for line in lines)


def test_top_is_bounded_by_top_k_for_a_model_with_more_classes():
    assert TOP_K < WIDE
    storage = MemoryStorage()
    seed(storage, digit_items(40, ITEMS), wide_model(), MODEL, spec=WIDE_SPEC)
    params = job(batch_size=16)
    pipeline.plan(storage, params)
    pipeline.infer_shard(storage, params, 0)
    lines = storage.lines(OUT + "parts/")
    assert all(len(line["top"]) == TOP_K for line in lines)
    assert_lines_match(lines, expected_lines(storage, wide_model(), WIDE_SPEC, "logits"))
    assert len({next(iter(line["top"])) for line in lines}) > 1  # a model that does not always say the same


def test_rank_classes_breaks_ties_in_class_order_and_one_class_has_its_score_as_margin():
    probabilities = np.array([[0.25, 0.5, 0.25, 0.0], [0.1, 0.1, 0.4, 0.4]], dtype=np.float32)
    got = rank_classes(probabilities, k=3)
    assert got.top.tolist() == [[1, 0, 2], [2, 3, 0]] and got.best.tolist() == [1, 2]
    np.testing.assert_allclose(got.top_scores, [[0.5, 0.25, 0.25], [0.4, 0.4, 0.1]])
    assert got.margin.tolist() == pytest.approx([0.25, 0.0])
    alone = rank_classes(np.array([[1.0], [0.7]], dtype=np.float32))
    assert alone.top.tolist() == [[0], [0]] and alone.margin.tolist() == pytest.approx(alone.score.tolist())


def test_a_resumed_job_writes_the_same_lines_as_an_uninterrupted_one():
    storage = seeded_storage()
    bad = [ITEMS + "00020-bad/x.png", ITEMS + "00100-bad/x.png"]  # one in a part before the crash, one after
    for key in bad:
        storage.put(key, b"not a png")
    storage.labels[bad[0]] = "4"
    params = job(batch_size=16)
    pipeline.plan(storage, params)
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, 4), params, 0)
    assert len(storage.keys(OUT + "parts/")) == 3
    pipeline.infer_shard(storage, params, 0)
    fresh = job(batch_size=16, output_prefix="jobs/j2/")
    pipeline.plan(storage, fresh)
    pipeline.infer_shard(storage, fresh, 0)

    resumed_parts = [storage.get(key) for key in storage.keys(OUT + "parts/")]
    assert resumed_parts == [storage.get(key) for key in storage.keys("jobs/j2/parts/")]  # byte for byte
    lines = storage.lines(OUT + "parts/")
    failed = [line for line in lines if "error" in line]
    assert len(lines) == 122 and all(len(line["top"]) == 10 for line in lines if line not in failed)
    assert [line["key"] for line in failed] == bad
    for line, label in zip(failed, ["4", None], strict=True):
        assert line == {
            "key": line["key"],
            "label": label,
            "predicted": None,
            "score": None,
            "margin": None,
            "top": {},
            "error": line["error"],
        }

    page, position = pipeline.predictions_page(storage, OUT, None, 50)
    rest, _ = pipeline.predictions_page(storage, OUT, position, 500)
    assert page + rest == lines  # the raw lines, margin and top included
