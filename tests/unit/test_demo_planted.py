"""The demo's planted wrong labels, its labeling that keeps what is there, and its one job per model."""

from __future__ import annotations

from collections import Counter

from sklearn.datasets import load_digits

from service.demo import CLASSES, PLANTED, digit_filename, ensure_jobs, label_digits, planted_mistakes


def truth() -> dict[str, str]:
    return {digit_filename(n): str(target) for n, target in enumerate(load_digits().target)}


def test_planted_mistakes_are_fixed_wrong_and_spread():
    planted = planted_mistakes()
    assert planted == planted_mistakes() and len(planted) == PLANTED == 36
    true = truth()
    assert all(name in true and label in CLASSES and label != true[name] for name, label in planted.items())
    assert len(Counter(true[name] for name in planted)) >= 8  # drawn over every class, not a corner of the data
    assert len(Counter(planted.values())) >= 8


class FakeClient:
    """Items and jobs in memory behind the two EdnaClient methods the demo uses; records what it sends."""

    def __init__(self, items: dict[str, str | None], jobs: list[dict] | None = None):
        self.items = [{"id": f"id-{n}", "filename": f, "label": label} for n, (f, label) in enumerate(items.items())]
        self.jobs = jobs or []
        self.sent: list[tuple[str, str, dict]] = []

    def pages(self, path: str):
        return iter(self.jobs if path == "/api/jobs" else self.items)

    def call(self, method: str, path: str, json: dict):
        self.sent.append((method, path, json))
        if path.endswith("/labels"):
            return {"results": [{"status": 200} for _ in json["labels"]]}
        return {"id": "new-job"}


def test_only_unlabeled_digits_get_a_label_so_fixes_survive():
    client = FakeClient({"digit-0000.png": None, "digit-0001.png": "7", "digit-0002.png": None, "other.png": None})
    wanted = {"digit-0000.png": "0", "digit-0001.png": "1", "digit-0002.png": "5"}
    assert label_digits(client, "/api/datasets/d/items", wanted) == ["digit-0000.png", "digit-0002.png"]
    ((method, path, body),) = client.sent
    assert (method, path) == ("POST", "/api/datasets/d/labels")
    assert body == {"labels": [{"item_id": "id-0", "label": "0"}, {"item_id": "id-2", "label": "5"}]}
    labeled = FakeClient({"digit-0000.png": "3"})
    assert label_digits(labeled, "/api/datasets/d/items", wanted) == [] and labeled.sent == []


def test_one_job_per_model_unless_that_model_has_one_on_the_dataset():
    jobs = [
        {"dataset_id": "d", "model_id": "m1", "status": "failed"},
        {"dataset_id": "other", "model_id": "m2", "status": "succeeded"},
    ]
    client = FakeClient({}, jobs)
    said = []
    ensure_jobs(client, "d", {"lr": "m1", "rf": "m2"}, said.append)
    assert client.sent == [("POST", "/api/jobs", {"dataset_id": "d", "model_id": "m2"})]
    assert len(said) == 1 and "'rf'" in said[0]
