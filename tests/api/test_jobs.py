"""Models, jobs and comparisons on the local runner, over both blob stores."""

from __future__ import annotations

import pytest
from digits import embedding_model, fill_digits, models, register, wait_for

from service.client import ApiError
from service.demo import CLASSES, DIGITS_INPUT


@pytest.fixture
def digits_world(stack):
    """All 1,797 digits on the local store; 400 on S3, where each object costs moto round trips."""
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})
    count = 1797 if stack.store == "local" else 400
    fill_digits(stack, dataset["id"], count)
    ids = [register(editor, name, onnx)["id"] for name, onnx in models().items()]
    return stack, editor, dataset["id"], ids, count


def test_comparison_of_the_demo_models(digits_world):
    stack, editor, dataset_id, model_ids, count = digits_world
    started = editor.call(
        "POST", "/api/comparisons", json={"dataset_id": dataset_id, "model_ids": model_ids, "shards": 2}
    )
    assert started["status"] in ("queued", "running") and len(started["job_ids"]) == 2
    viewer = stack.client("viewer")
    result = wait_for(viewer, f"/api/comparisons/{started['id']}")
    assert result["status"] == "succeeded", result
    board = result["leaderboard"]
    assert [row["accuracy"] for row in board] == sorted((row["accuracy"] for row in board), reverse=True)
    by_name = {row["model_name"]: row for row in board}
    assert by_name["digits-random-forest"]["accuracy"] >= 0.9
    assert by_name["digits-logistic-regression"]["accuracy"] >= 0.85
    assert all(row["evaluated"] == count and row["items_per_second"] > 0 for row in board)
    for model_id in model_ids:
        confusion = result["confusion"][model_id]
        assert confusion["class_names"] == CLASSES
        assert sum(map(sum, confusion["matrix"])) == count
    assert 0 < result["disagreement_count"] < count
    first = result["disagreements"][0]
    assert set(first["predictions"]) == set(model_ids) and len(set(first["predictions"].values())) == 2
    assert first["thumbnail_url"] and first["filename"].startswith("digit-")
    # every item predicted exactly once per job
    for job_id in started["job_ids"]:
        predictions = list(viewer.pages(f"/api/jobs/{job_id}/predictions", limit=500))
        assert len(predictions) == count == len({p["item_id"] for p in predictions})
        job = viewer.call("GET", f"/api/jobs/{job_id}")
        assert job["progress"] == {"done": count, "total": count} and job["metrics"]["accuracy"] >= 0.85


def test_a_single_job_and_its_predictions(stack):
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "few", "label_classes": CLASSES})
    fill_digits(stack, dataset["id"], 50)
    model = register(editor, "lr", models()["digits-logistic-regression"])
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset["id"], "model_id": model["id"], "batch_size": 8})
    assert job["status"] in ("queued", "running") and job["batch_size"] == 8
    done = wait_for(editor, f"/api/jobs/{job['id']}")
    assert done["status"] == "succeeded" and done["progress"]["done"] == 50
    rows = list(editor.pages(f"/api/jobs/{job['id']}/predictions", limit=7))
    assert len(rows) == 50 and all(r["predicted"] in CLASSES and 0 <= r["score"] <= 1 for r in rows)
    assert sum(r["predicted"] == r["label"] for r in rows) / 50 == pytest.approx(done["metrics"]["accuracy"])
    assert [j["id"] for j in editor.pages("/api/jobs")] == [job["id"]]
    with pytest.raises(ApiError) as err:  # finished: nothing to cancel
        editor.call("POST", f"/api/jobs/{job['id']}/cancel")
    assert err.value.status == 409


def test_models_are_checked_when_their_upload_completes(stack):
    editor = stack.client("editor")
    lr = models()["digits-logistic-regression"]
    with pytest.raises(ApiError) as err:  # a spec for 3 classes, a model with 10
        register(editor, "wrong classes", lr, class_names=["a", "b", "c"])
    assert err.value.status == 422 and err.value.body["message"]
    with pytest.raises(ApiError) as err:  # a spec of 16x16 pixels, a model expecting 64 features
        register(editor, "wrong size", lr, input={**DIGITS_INPUT, "width": 16, "height": 16})
    assert err.value.status == 422
    with pytest.raises(ApiError) as err:
        register(editor, "not onnx", b"definitely not a model")
    assert err.value.status == 422
    statuses = {m["name"]: m["status"] for m in editor.pages("/api/models")}
    assert statuses == {"wrong classes": "invalid", "wrong size": "invalid", "not onnx": "invalid"}
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    invalid = next(m for m in editor.pages("/api/models"))
    with pytest.raises(ApiError) as err:
        editor.call("POST", "/api/jobs", json={"dataset_id": dataset["id"], "model_id": invalid["id"]})
    assert err.value.status == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "m", "class_names": ["a"], "input": DIGITS_INPUT, "size": 10},
        {"name": "m", "class_names": [], "input": DIGITS_INPUT, "size": 10},
        {"name": "m", "class_names": ["a"], "embedding_output": "e", "input": DIGITS_INPUT, "size": 10},
        {"name": "m", "class_names": [], "embedding_output": "", "input": DIGITS_INPUT, "size": 10},
        {
            "name": "m",
            "class_names": CLASSES,
            "embedding_output": "e",
            "output": {"name": "e"},
            "input": DIGITS_INPUT,
            "size": 10,
        },
        {"name": "m", "class_names": ["a", "a"], "input": DIGITS_INPUT, "size": 10},
        {"name": "m", "class_names": CLASSES, "input": {**DIGITS_INPUT, "channels": 2}, "size": 10},
        {"name": "m", "class_names": CLASSES, "input": {**DIGITS_INPUT, "layout": "chw"}, "size": 10},
        {"name": "m", "class_names": CLASSES, "input": {**DIGITS_INPUT, "mean": [0, 0]}, "size": 10},
        {"name": "m", "class_names": CLASSES, "input": DIGITS_INPUT, "size": 0},
        {"name": "m", "class_names": CLASSES, "input": DIGITS_INPUT, "size": 10, "format": "pt"},
        {"name": "m", "class_names": CLASSES, "input": DIGITS_INPUT, "size": 10**14},
    ],
)
def test_bad_model_registrations_write_nothing(stack, body):
    editor = stack.client("editor")
    with pytest.raises(ApiError) as err:
        editor.call("POST", "/api/models", json=body)
    assert err.value.status in (400, 413, 422) and err.value.body["message"]
    assert list(editor.pages("/api/models")) == []


def test_bad_job_requests(stack):
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    model = register(editor, "lr", models()["digits-logistic-regression"])
    for body, status in (
        ({"dataset_id": "0" * 26, "model_id": model["id"]}, 404),
        ({"dataset_id": dataset["id"], "model_id": "0" * 26}, 404),
        ({"dataset_id": dataset["id"], "model_id": model["id"], "batch_size": 0}, 422),
        ({"dataset_id": dataset["id"], "model_id": model["id"], "shards": 65}, 422),
        ({"dataset_id": dataset["id"]}, 422),
    ):
        with pytest.raises(ApiError) as err:
            editor.call("POST", "/api/jobs", json=body)
        assert err.value.status == status, body
    for body in (
        {"dataset_id": dataset["id"], "model_ids": [model["id"]]},
        {"dataset_id": dataset["id"], "model_ids": [model["id"], model["id"]]},
    ):
        with pytest.raises(ApiError) as err:
            editor.call("POST", "/api/comparisons", json=body)
        assert err.value.status in (400, 422)
    assert list(editor.pages("/api/jobs")) == [] and list(editor.pages("/api/comparisons")) == []


def test_an_empty_dataset_succeeds_with_no_predictions(stack):
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "empty"})
    model = register(editor, "lr", models()["digits-logistic-regression"])
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset["id"], "model_id": model["id"]})
    done = wait_for(editor, f"/api/jobs/{job['id']}")
    assert done["status"] == "succeeded" and done["progress"] == {"done": 0, "total": 0}
    assert list(editor.pages(f"/api/jobs/{job['id']}/predictions")) == []


def test_cancel_stops_a_running_job(stack):
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "slow", "label_classes": CLASSES})
    fill_digits(stack, dataset["id"], 300)
    model = register(editor, "lr", models()["digits-logistic-regression"])
    body = {"dataset_id": dataset["id"], "model_id": model["id"], "batch_size": 1}  # one part per item: slow
    job = editor.call("POST", "/api/jobs", json=body)
    wait_for(editor, f"/api/jobs/{job['id']}", done=lambda j: j["status"] != "queued")
    assert editor.call("POST", f"/api/jobs/{job['id']}/cancel")["id"] == job["id"]
    done = wait_for(editor, f"/api/jobs/{job['id']}")
    assert done["status"] == "cancelled" and done["progress"]["done"] < 300
    assert stack.client("viewer").call("GET", f"/api/jobs/{job['id']}")["status"] == "cancelled"


def test_a_job_stopped_midway_resumes_after_a_restart(stack, tmp_path_factory, stack_over):
    """The service stops while its worker is inside a job; the next start finishes it from storage,
    with exactly one prediction per item."""
    count = 1000 if stack.store == "local" else 300  # at one item per part, seconds of work either way
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "restart", "label_classes": CLASSES})
    fill_digits(stack, dataset["id"], count)
    model = register(editor, "lr", models()["digits-logistic-regression"])
    body = {"dataset_id": dataset["id"], "model_id": model["id"], "batch_size": 1}
    job = editor.call("POST", "/api/jobs", json=body)
    wait_for(editor, f"/api/jobs/{job['id']}", done=lambda j: j["progress"]["done"] > 0)
    stack.edna.adapters.jobs.close()  # the worker process is killed in the middle of the job
    stopped = editor.call("GET", f"/api/jobs/{job['id']}")
    assert stopped["status"] == "running" and 0 < stopped["progress"]["done"] < count
    overrides = {"s3_bucket": stack.config.s3_bucket} if stack.store == "s3" else {}
    data_dir = stack.config.data_dir if stack.store == "local" else tmp_path_factory.mktemp("restarted")
    with stack_over(stack.store, data_dir, **overrides) as restarted:
        assert restarted.edna.jobs.resume_unfinished() == 1
        done = wait_for(restarted.client("viewer"), f"/api/jobs/{job['id']}")
        assert done["status"] == "succeeded" and done["progress"] == {"done": count, "total": count}
        rows = list(restarted.client("viewer").pages(f"/api/jobs/{job['id']}/predictions"))
        assert len(rows) == count == len({r["item_id"] for r in rows})


def test_an_embedding_only_model_is_shown_with_its_dims_and_kept_out_of_comparisons(stack):
    editor = stack.client("editor")
    embed = register(editor, "embed", embedding_model(), class_names=[], embedding_output="embedding")
    assert (embed["class_names"], embed["embedding_output"], embed["embedding_dims"]) == ([], "embedding", 32)
    lr = register(editor, "lr", models()["digits-logistic-regression"])
    assert (lr["embedding_output"], lr["embedding_dims"]) == (None, None)
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    with pytest.raises(ApiError) as err:
        editor.call(
            "POST", "/api/comparisons", json={"dataset_id": dataset["id"], "model_ids": [lr["id"], embed["id"]]}
        )
    assert err.value.status == 409 and "only makes embeddings" in err.value.body["message"]
    assert list(editor.pages("/api/jobs")) == [] and list(editor.pages("/api/comparisons")) == []
