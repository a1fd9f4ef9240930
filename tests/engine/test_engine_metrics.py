"""The engine's streamed metrics equal scikit-learn's on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from edna_engine import pipeline
from edna_engine.metrics import summarize
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from tests.engine.digits import DIGITS_SPEC, ITEMS, MODEL, OUT, MemoryStorage, digit_items, digits_model, job, seed

CLASSES = DIGITS_SPEC["class_names"]


def assert_matches_sklearn(metrics: dict, truth: list[str], predicted: list[str], classes: list[str]) -> None:
    assert metrics["evaluated"] == len(truth)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=classes, zero_division=0)
    for i, name in enumerate(classes):
        got = metrics["per_class"][name]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p[i], r[i], f[i])), name
        assert got["support"] == s[i]
    assert metrics["confusion"] == confusion_matrix(truth, predicted, labels=classes).tolist()


@pytest.mark.parametrize("model", ["logistic", "forest"])
def test_job_metrics_equal_sklearn_on_its_predictions(model):
    storage = MemoryStorage()
    items = digit_items(400, ITEMS)
    seed(storage, items, digits_model(model), MODEL)
    # Wrong labels for a quarter of the items make a confusion matrix worth comparing; some labels
    # are outside the classes or missing, and those items are predicted but not evaluated.
    rng = np.random.default_rng(7)
    for key, _, _ in items[::4]:
        storage.labels[key] = str(rng.integers(0, 10))
    storage.labels[items[1][0]] = "cat"
    del storage.labels[items[2][0]]
    params = job(shards=3, batch_size=32)
    for shard in pipeline.plan(storage, params):
        pipeline.infer_shard(storage, params, shard)
    metrics = pipeline.evaluate(storage, params)

    lines = storage.lines(OUT + "parts/")
    assert len(lines) == metrics["items"] == 400
    scored = [p for p in lines if p["label"] in CLASSES]
    truth, predicted = [p["label"] for p in scored], [p["predicted"] for p in scored]
    assert len(truth) == 398 and metrics["accuracy"] < 0.9  # the wrong labels show
    assert_matches_sklearn(metrics, truth, predicted, CLASSES)


def test_summary_of_classes_absent_from_truth_and_predictions():
    classes = ["a", "b", "c", "d", "e"]
    rng = np.random.default_rng(3)
    truth = list(rng.choice(["a", "b", "c"], 200))
    predicted = list(rng.choice(["a", "b", "d"], 200))  # "c" is never predicted, "d" never true, "e" neither
    index = {name: i for i, name in enumerate(classes)}
    confusion = np.zeros((5, 5), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        confusion[index[t], index[p]] += 1
    assert_matches_sklearn(summarize(confusion, classes), truth, predicted, classes)


def test_summary_of_nothing_evaluated():
    metrics = summarize(np.zeros((3, 3), dtype=np.int64), ["a", "b", "c"])
    assert metrics["accuracy"] is None and metrics["macro_f1"] is None and metrics["evaluated"] == 0
