"""The pipeline on an in-memory storage: results, crashes and resumes, memory pressure, cancel, status, paging."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import onnxruntime
import pytest
from edna_engine import pipeline
from edna_engine import shard as shard_run
from onnx import TensorProto, helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
from PIL import Image

from tests.engine.digits import (
    ITEMS,
    OUT,
    Crash,
    CrashingStorage,
    MemoryStorage,
    digit_png,
    digits,
    job,
    seed,
    seeded_storage,
)


@pytest.fixture
def storage():
    """120 digits and the logistic-regression model (no conftest.py: tests/api import the root one by name)."""
    return seeded_storage()


def run(storage, params, **kwargs) -> dict:
    """The whole pipeline in the DAG's order; the final status document."""
    for shard in pipeline.plan(storage, params):
        pipeline.infer_shard(storage, params, shard, **kwargs)
    pipeline.evaluate(storage, params)
    return pipeline.finalize(storage, params)


def predictions(storage) -> list[dict]:
    return storage.lines(OUT + "parts/")


def assert_each_item_once(storage, count: int = 120) -> None:
    keys = [p["key"] for p in predictions(storage)]
    assert len(keys) == count
    assert Counter(keys).most_common(1)[0][1] == 1
    assert set(keys) == set(storage.keys(ITEMS))


@pytest.mark.parametrize("shards", [1, 3])
def test_a_run_predicts_every_item_once_and_succeeds(storage, shards):
    status = run(storage, job(shards=shards))
    assert status["status"] == "succeeded"
    assert status["progress"] == {"done": 120, "total": 120}
    assert_each_item_once(storage)
    plan = json.loads(storage.get(OUT + "plan.json"))
    assert plan["total"] == 120 and sum(plan["counts"]) == 120 and len(plan["counts"]) == shards
    metrics = status["metrics"]
    assert metrics["items"] == metrics["evaluated"] == 120 and metrics["accuracy"] > 0.9
    assert metrics["items_per_second"] > 0 and metrics["wall_seconds"] >= 0
    assert pipeline.read_status(storage, OUT) == {k: status[k] for k in ("status", "progress", "metrics")}
    parts = storage.keys(OUT + "parts/")
    assert all(len(storage.get(k).splitlines()) <= 16 for k in parts)
    assert storage.keys(OUT + "progress/") == [f"{OUT}progress/{s:04d}.json" for s in range(shards)]


@pytest.mark.parametrize("crash_at", [1, 2, 4, 8])
def test_a_crash_after_batch_k_resumes_without_duplicates_or_gaps(storage, crash_at):
    params = job()  # 120 items at 16 per batch: 8 parts
    pipeline.plan(storage, params)
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, crash_at), params, 0)
    assert len(storage.keys(OUT + "parts/")) == crash_at - 1
    result = pipeline.infer_shard(storage, params, 0)
    assert result["items"] == 120 and result["parts"] == 8
    assert_each_item_once(storage)


def test_a_crash_between_a_part_and_its_progress_still_resumes_exactly(storage, monkeypatch):
    monkeypatch.setattr(shard_run, "REPORT_SECONDS", 0)  # progress after every part
    params = job()
    pipeline.plan(storage, params)
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, 4, marker="/progress/"), params, 0)  # 1st write is the start
    assert json.loads(storage.get(OUT + "progress/0000.json"))["done"] == 32
    assert len(storage.keys(OUT + "parts/")) == 3
    pipeline.infer_shard(storage, params, 0)
    assert_each_item_once(storage)
    assert json.loads(storage.get(OUT + "progress/0000.json"))["done"] == 120


def test_resume_with_another_batch_size(storage):
    pipeline.plan(storage, job(batch_size=16))
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, 4), job(batch_size=16), 0)
    result = pipeline.infer_shard(storage, job(batch_size=7), 0)
    sizes = [len(storage.get(k).splitlines()) for k in storage.keys(OUT + "parts/")]
    assert sizes == [16, 16, 16] + [7] * 10 + [2]
    assert result["items"] == 120
    assert_each_item_once(storage)


def test_resumed_metrics_equal_an_uninterrupted_run(storage):
    pipeline.plan(storage, job())
    with pytest.raises(Crash):
        pipeline.infer_shard(CrashingStorage(storage, 5), job(), 0)
    resumed = pipeline.infer_shard(storage, job(), 0)
    other = job(output_prefix="jobs/j2/")
    pipeline.plan(storage, other)
    fresh = pipeline.infer_shard(storage, other, 0)
    for name in ("items", "errors", "evaluated", "confusion", "parts"):
        assert resumed[name] == fresh[name], name


def test_a_finished_shard_is_not_run_again(storage):
    params = job()
    pipeline.plan(storage, params)
    first = pipeline.infer_shard(storage, params, 0)
    puts = len(storage.puts)
    assert pipeline.infer_shard(storage, params, 0) == first
    assert len(storage.puts) == puts


def fail_above(rows: int, error_factory):
    """A replacement InferenceSession.run that fails for batches larger than `rows`."""
    real = onnxruntime.InferenceSession.run
    sizes = []

    def run(self, output_names, feeds, run_options=None):
        n = len(next(iter(feeds.values())))
        sizes.append(n)
        if n > rows:
            raise error_factory(n)
        return real(self, output_names, feeds, run_options)

    return run, sizes


@pytest.mark.parametrize(
    "error",
    [
        lambda n: MemoryError(f"{n} rows"),
        lambda n: ort_state.RuntimeException(f"Failed to allocate memory for requested buffer of size {n * 256}"),
    ],
    ids=["MemoryError", "onnxruntime-allocation"],
)
def test_out_of_memory_halves_the_batch_and_the_run_completes(storage, monkeypatch, error):
    run_fn, sizes = fail_above(5, error)
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", run_fn)
    params = job(batch_size=24)
    pipeline.plan(storage, params)
    result = pipeline.infer_shard(storage, params, 0)
    assert sizes[:4] == [24, 12, 6, 3]
    assert result["batch_size"] == 3 and result["halvings"] == 3 and result["items"] == 120
    assert max(len(storage.get(k).splitlines()) for k in storage.keys(OUT + "parts/")) == 3
    assert_each_item_once(storage)


def test_out_of_memory_at_batch_one_fails_clearly(storage, monkeypatch):
    run_fn, _ = fail_above(0, lambda n: MemoryError())
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", run_fn)
    pipeline.plan(storage, job(batch_size=4))
    with pytest.raises(MemoryError, match="out of memory even with a batch of one item"):
        pipeline.infer_shard(storage, job(batch_size=4), 0)


def test_other_onnxruntime_errors_are_not_mistaken_for_memory(storage, monkeypatch):
    run_fn, sizes = fail_above(0, lambda n: ort_state.InvalidArgument("Got invalid dimensions"))
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", run_fn)
    pipeline.plan(storage, job())
    with pytest.raises(ort_state.InvalidArgument):
        pipeline.infer_shard(storage, job(), 0)
    assert sizes == [16]


def mean_model(side: int) -> bytes:
    """[N, 1, side, side] → [N, 2]: the image's mean and its negation, whatever the size (no weights)."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["mean"], axis=1),
        helper.make_node("Neg", ["mean"], ["neg"]),
        helper.make_node("Concat", ["mean", "neg"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, side, side])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_max_memory_caps_batch_times_item_bytes():
    side = 1024  # one preprocessed item: 1024·1024·1 float32 = 4 MiB, so 16 MiB hold four
    spec = {
        "class_names": ["bright", "dark"],
        "output": {"kind": "logits"},
        "input": {
            "width": side,
            "height": side,
            "channels": 1,
            "scale": 1 / 255,
            "mean": [0.5],
            "std": [0.5],
            "layout": "nchw",
            "resample": "bilinear",
        },
    }
    rng = np.random.default_rng(0)
    items = []
    for i in range(10):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8), "L").save(buf, format="PNG")
        items.append((f"{ITEMS}{i:02d}/x.png", buf.getvalue(), "bright"))
    storage = MemoryStorage()
    seed(storage, items, mean_model(side), spec=spec)
    params = job(batch_size=64, max_memory_mb=16, model_key="models/m/model.onnx")
    status = run(storage, params)
    sizes = [len(storage.get(k).splitlines()) for k in storage.keys(OUT + "parts/")]
    assert sizes == [4, 4, 2]
    assert status["metrics"]["items"] == 10 and {p["predicted"] for p in predictions(storage)} <= {"bright", "dark"}


def test_decode_failures_become_error_predictions(storage):
    storage.put(ITEMS + "bad-1/x.png", b"not a png")
    storage.put(ITEMS + "bad-2/x.png", digit_png(digits()[0][0])[:50])
    storage.labels[ITEMS + "bad-2/x.png"] = "3"
    status = run(storage, job(shards=2))
    assert status["status"] == "succeeded"
    bad = [p for p in predictions(storage) if p["predicted"] is None]
    assert {p["key"] for p in bad} == {ITEMS + "bad-1/x.png", ITEMS + "bad-2/x.png"}
    assert all(p["error"].startswith("cannot decode image") and p["score"] is None for p in bad)
    metrics = status["metrics"]
    assert metrics["items"] == 122 and metrics["errors"] == 2 and metrics["evaluated"] == 120


def test_cancel_stops_a_shard_between_batches(storage, monkeypatch):
    monkeypatch.setattr(shard_run, "REPORT_SECONDS", 0)  # the cancel flag read after every part
    params = job()
    pipeline.plan(storage, params)
    seen = []

    def on_progress(done):
        seen.append(done)
        if done == 32:
            pipeline.cancel(storage, params)

    result = pipeline.infer_shard(storage, params, 0, on_progress=on_progress)
    assert result["cancelled"] is True and result["items"] == 32
    assert seen == [0, 16, 32]
    assert len(storage.keys(OUT + "parts/")) == 2 and not storage.exists(OUT + "shards/0000.json")
    assert pipeline.read_status(storage, OUT)["status"] == "cancelled"
    metrics = pipeline.evaluate(storage, params)  # from the parts written before the cancel
    assert metrics["items"] == 32
    final = pipeline.finalize(storage, params)
    assert final["status"] == "cancelled" and final["progress"] == {"done": 32, "total": 120}
    pipeline.fail(storage, params, "boom")
    assert pipeline.read_status(storage, OUT)["status"] == "cancelled"


def test_progress_and_the_cancel_flag_wait_out_the_report_interval(storage, monkeypatch):
    """Within REPORT_SECONDS the progress file is written once at the start and once at the end, and the
    writer reads the cancel flag once: not once per part (two more storage requests for each mini-batch)."""
    monkeypatch.setattr(shard_run, "REPORT_SECONDS", 3600)
    params = job()
    pipeline.plan(storage, params)
    calls = Counter()

    class Counting:
        def put(self, key, data):
            calls["progress put"] += "/progress/" in key
            storage.put(key, data)

        def exists(self, key):
            calls["cancel read"] += key.endswith("/cancel")
            return storage.exists(key)

        def __getattr__(self, name):
            return getattr(storage, name)

    seen = []
    result = pipeline.infer_shard(Counting(), params, 0, on_progress=seen.append)
    assert result["items"] == 120 and result["parts"] == 8
    assert seen == [0, 120]
    assert json.loads(storage.get(OUT + "progress/0000.json"))["done"] == 120
    # The cancel flag: infer_shard's check before it starts, then the writer's after the first part.
    assert calls == {"progress put": 2, "cancel read": 2}


def test_cancel_before_start_and_after_success(storage):
    params = job()
    pipeline.cancel(storage, params)
    assert pipeline.read_status(storage, OUT)["status"] == "cancelled"
    pipeline.plan(storage, params)
    assert pipeline.read_status(storage, OUT)["status"] == "cancelled"
    assert pipeline.infer_shard(storage, params, 0) == {"shard": 0, "cancelled": True}
    assert storage.keys(OUT + "parts/") == []

    other = job(output_prefix="jobs/j3/")
    assert run(storage, other)["status"] == "succeeded"
    pipeline.cancel(storage, other)
    assert not storage.exists("jobs/j3/cancel")
    assert pipeline.read_status(storage, "jobs/j3/")["status"] == "succeeded"


def test_status_from_queued_to_running_to_failed(storage):
    params = job(shards=2)
    assert pipeline.read_status(storage, OUT) == {"status": "queued", "progress": {"done": 0, "total": 0}}
    pipeline.plan(storage, params)
    assert pipeline.read_status(storage, OUT) == {"status": "running", "progress": {"done": 0, "total": 120}}
    done0 = pipeline.infer_shard(storage, params, 0)["items"]
    assert pipeline.read_status(storage, OUT)["progress"] == {"done": done0, "total": 120}
    with pytest.raises(RuntimeError, match="shard 1 has not finished"):
        pipeline.evaluate(storage, params)
    pipeline.fail(storage, params, "infer[1] failed: boom")
    assert pipeline.read_status(storage, OUT) == {
        "status": "failed",
        "progress": {"done": done0, "total": 120},
        "error": "infer[1] failed: boom",
    }


def test_plan_refuses_another_sharding_of_the_same_output(storage):
    pipeline.plan(storage, job(shards=2))
    with pytest.raises(ValueError, match="planned with 2 shards"):
        pipeline.plan(storage, job(shards=3))
    with pytest.raises(ValueError, match="planned with 2 shards"):
        pipeline.infer_shard(storage, job(shards=3), 0)


def test_infer_needs_a_plan(storage):
    with pytest.raises(RuntimeError, match="run plan first"):
        pipeline.infer_shard(storage, job(), 0)


@pytest.mark.parametrize("limit", [1, 7, 16, 50, 500])
def test_predictions_page_walks_every_prediction_once_in_order(storage, limit):
    run(storage, job(shards=3, batch_size=16))
    expected = predictions(storage)
    got, position, pages = [], None, 0
    while True:
        page, position = pipeline.predictions_page(storage, OUT, position, limit)
        got.extend(page)
        pages += 1
        assert len(page) <= limit
        if position is None:
            break
        assert len(page) == limit
    assert got == expected
    assert pages == max(1, -(-len(expected) // limit))
    assert set(expected[0]) == {"key", "label", "predicted", "score", "margin", "top"}


def test_predictions_page_rejects_foreign_positions(storage):
    run(storage, job())
    for bad in ("nonsense", "0000-000099.jsonl:0", "../0000-000000.jsonl:1"):
        with pytest.raises(ValueError, match="not a position"):
            pipeline.predictions_page(storage, OUT, bad, 10)
    assert pipeline.predictions_page(storage, "jobs/none/", None, 10) == ([], None)


def test_labels_outside_the_classes_are_predicted_but_not_evaluated(storage):
    keys = storage.keys(ITEMS)
    storage.labels[keys[0]] = "cat"
    del storage.labels[keys[1]]
    metrics = run(storage, job())["metrics"]
    assert metrics["items"] == 120 and metrics["evaluated"] == 118
    lines = {p["key"]: p for p in predictions(storage)}
    assert lines[keys[0]]["label"] == "cat" and lines[keys[1]]["label"] is None
    assert np.asarray(metrics["confusion"]).sum() == 118


class FlakyGet:
    """Lists every item but fails to get `key`; `gone` says whether the object still exists."""

    def __init__(self, inner, key: str, gone: bool):
        self.inner, self.key, self.gone = inner, key, gone

    def get(self, key):
        if key == self.key:
            raise KeyError(key)
        return self.inner.get(key)

    def exists(self, key):
        return False if key == self.key and self.gone else self.inner.exists(key)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_an_item_deleted_during_the_job_is_a_failed_prediction(storage):
    key = storage.keys(ITEMS)[5]
    flaky = FlakyGet(storage, key, gone=True)
    status = run(flaky, job())
    assert status["status"] == "succeeded" and status["metrics"]["errors"] == 1
    (line,) = [p for p in predictions(storage) if p["key"] == key]
    assert line["predicted"] is None and "deleted" in line["error"]


def test_a_storage_error_on_an_existing_item_fails_the_shard(storage):
    flaky = FlakyGet(storage, storage.keys(ITEMS)[5], gone=False)
    pipeline.plan(flaky, job())
    with pytest.raises(KeyError):
        pipeline.infer_shard(flaky, job(), 0)
    assert pipeline.infer_shard(storage, job(), 0)["items"] == 120  # the retry resumes and completes
    assert_each_item_once(storage)
