"""EDNA_JOBS=airflow against a real Airflow 3 that the module starts (API server and scheduler, LocalExecutor):
the job runs as the edna_inference DAG on Airflow's own worker over the moto S3 data bucket, its
predictions arrive through Edna's API (also when the server was killed while the run went on), a
cancel stops the run, and a wrong password, an unreachable or silent Airflow, or a paused DAG are
clear 503s within the timeout."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict

import pytest
from airflow_server import DAG_ID, MEMORY_LIMIT_MB, PASSWORD, USER, Airflow, free_port, running_airflow
from conftest import running_stack, s3_client
from digits import digits, fill_digits, models, register, wait_for
from real_server import Server, add_user

from service.adapters.jobrunner.airflow_rest import AirflowAccess, AirflowJobRunner
from service.bootstrap import build_job_runner
from service.client import ApiError
from service.demo import CLASSES
from service.settings import Config
from service.vocabulary import layout
from service.vocabulary.errors import Unavailable
from service.vocabulary.ids import new_id

COUNT = 120
RUN_DEADLINE = 120  # seconds for Airflow to see a run end (a bound, not a measurement)


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:
    name = f"edna-airflow-{uuid.uuid4().hex[:12]}"
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, moto_endpoint: str, bucket: str) -> Iterator[Airflow]:
    """One Airflow for the module; its workers reach the data bucket on the moto server, as the README says."""
    started = time.monotonic()
    dag_env = {
        "AIRFLOW__EDNA__DATA_BUCKET": bucket,
        "AIRFLOW__EDNA__RETRY_DELAY_SECONDS": "1",
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
    }
    with running_airflow(tmp_path_factory.mktemp("airflow"), dag_env) as server:
        print(f"\nAirflow ready in {time.monotonic() - started:.1f} s")
        yield server
    print(f"\nAirflow: {time.monotonic() - started:.1f} s in all, peak memory {server.peak_pss_mb:.0f} MB (PSS)")
    assert server.peak_pss_mb <= MEMORY_LIMIT_MB, "Airflow outgrew its memory bound and was killed"


def on_airflow(airflow_url: str, **settings) -> dict:
    return {
        "jobs": "airflow",
        "airflow_url": airflow_url,
        "airflow_username": USER,
        "airflow_password": PASSWORD,
        "airflow_poll_seconds": 0.5,
        **settings,
    }


@pytest.fixture(scope="module")
def world(airflow: Airflow, bucket: str, tmp_path_factory, moto_endpoint: str):
    """Edna over the bucket with its jobs on the Airflow: a labelled digits dataset and a model."""
    data_dir = tmp_path_factory.mktemp("edna")
    with running_stack("s3", data_dir, moto_endpoint, s3_bucket=bucket, **on_airflow(airflow.url)) as stack:
        editor = stack.client("editor")
        dataset_id = editor.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})["id"]
        fill_digits(stack, dataset_id, COUNT)
        model_id = register(editor, "lr", models()["digits-logistic-regression"])["id"]
        yield editor, dataset_id, model_id


def run_of(airflow: Airflow, job_id: str, done=lambda run: True) -> dict:
    deadline = time.monotonic() + RUN_DEADLINE
    while time.monotonic() < deadline:
        answer = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/edna-{job_id}")
        if answer.ok and done(answer.json()):
            return answer.json()
        time.sleep(0.3)
    raise AssertionError(f"run edna-{job_id} not as expected after {RUN_DEADLINE} s:\n{airflow.logs()}")


def test_an_editor_runs_a_job_on_airflows_workers_and_its_predictions_arrive(airflow, world):
    editor, dataset_id, model_id = world
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id, "shards": 2})
    assert job["runner"] == "airflow" and job["status"] in ("queued", "running")
    finished = wait_for(editor, f"/api/jobs/{job['id']}")
    assert finished["status"] == "succeeded", f"{finished}\n{airflow.logs()}"
    assert finished["metrics"]["items"] == COUNT and finished["metrics"]["accuracy"] >= 0.85

    # The run is Airflow's: triggered with the engine's parameters, its tasks run by the LocalExecutor.
    run = run_of(airflow, job["id"], lambda run: run["state"] == "success")
    assert run["conf"]["job_id"] == job["id"] and run["conf"]["shards"] == 2
    tasks = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances").json()["task_instances"]
    assert sorted((t["task_id"], t["map_index"]) for t in tasks) == [
        ("evaluate", -1),
        ("finalize", -1),
        ("infer", 0),
        ("infer", 1),
        ("plan", -1),
    ]
    assert {t["state"] for t in tasks} == {"success"}, tasks
    assert all(t["hostname"] and t["pid"] not in (None, os.getpid()) for t in tasks)  # Airflow's task processes

    predictions = list(editor.pages(f"/api/jobs/{job['id']}/predictions", limit=50))
    truth = {name: str(target) for name, _, target in digits()[:COUNT]}
    assert sorted(p["filename"] for p in predictions) == sorted(truth)
    assert sum(p["predicted"] == truth[p["filename"]] for p in predictions) >= 0.85 * COUNT
    # The runner saw the run end and attached the predictions to the items (no storage events here).
    dataset = wait_for(editor, f"/api/datasets/{dataset_id}", done=lambda d: d["predictions"])
    assert [p["model_id"] for p in dataset["predictions"]] == [model_id]
    item = next(iter(editor.pages(f"/api/datasets/{dataset_id}/items", limit=1)))
    assert item["predictions"][0]["job_id"] == job["id"]


def test_a_cancelled_job_stops_its_airflow_run(airflow, world, tmp_path):
    editor, dataset_id, model_id = world
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id})
    cancelled = editor.call("POST", f"/api/jobs/{job['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    run = run_of(airflow, job["id"], lambda run: run["state"] in ("success", "failed"))
    assert run["state"] == "failed"
    assert wait_for(editor, f"/api/jobs/{job['id']}")["status"] == "cancelled"
    # A resubmit (a restarted server resuming its jobs) finds the job's run and starts no second one.
    runner = AirflowJobRunner(AirflowAccess(airflow.url, USER, PASSWORD, timeout=5), tmp_path / "mark.json")
    assert runner.submit(run["conf"]) == run["dag_run_id"]
    runner.cancel(run["conf"], "edna-no-such-run")  # a run Airflow no longer has: nothing to stop, no error
    runner.close()
    runs = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    assert [r["state"] for r in runs if r["conf"]["job_id"] == job["id"]] == ["failed"]


def test_the_real_server_killed_during_a_run_gets_its_predictions_when_it_starts_again(
    airflow, bucket, tmp_path, moto_endpoint
):
    """`python -m service run` itself: killed (SIGKILL) while its job runs on Airflow, started again."""
    env = {
        "EDNA_STORAGE": "s3",
        "EDNA_S3_BUCKET": bucket,
        "EDNA_S3_ENDPOINT_URL": moto_endpoint,
        "EDNA_JOBS": "airflow",
        "EDNA_AIRFLOW_URL": airflow.url,
        "EDNA_AIRFLOW_USERNAME": USER,
        "EDNA_AIRFLOW_PASSWORD": PASSWORD,
        "EDNA_AIRFLOW_POLL_SECONDS": "0.5",
    }
    data_dir = tmp_path / "data"
    user, password = add_user(data_dir, "ed", "acme", "editor")
    server = Server(data_dir, env).start()
    try:
        editor = server.client(user, password)
        dataset_id = editor.call("POST", "/api/datasets", json={"name": "killed", "label_classes": CLASSES})["id"]
        for name, png, _ in digits()[:20]:
            editor.upload(dataset_id, name, png, "image/png")
        model_id = register(editor, "lr", models()["digits-logistic-regression"])["id"]
        job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id})
        server.kill()
        run_of(airflow, job["id"], lambda run: run["state"] == "success")
        server.start()
        editor = server.client(user, password)
        dataset = wait_for(editor, f"/api/datasets/{dataset_id}", done=lambda d: d["predictions"])
        assert [(p["job_id"], p["items"]) for p in dataset["predictions"]] == [(job["id"], 20)]
    finally:
        server.kill()


def test_a_paused_dag_is_a_clear_503_not_a_job_that_waits_for_ever(airflow, world):
    editor, dataset_id, model_id = world
    airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": True}).raise_for_status()
    try:
        with pytest.raises(ApiError) as refused:
            editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id})
    finally:
        airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
    assert refused.value.status == 503 and "paused" in refused.value.body["message"]


def failed_start(stack) -> ApiError:
    """A job start on this stack, which must fail; its job is left failed, not holding a slot."""
    editor = stack.client("editor")
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "d", "label_classes": CLASSES})["id"]
    model_id = register(editor, "lr", models()["digits-logistic-regression"])["id"]
    with pytest.raises(ApiError) as refused:
        editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id})
    jobs = editor.call("GET", "/api/jobs")["items"]
    assert [job["status"] for job in jobs] == ["failed"]
    return refused.value


def started_before_the_outage(stack) -> str:
    """A job record as a job whose run Airflow had started leaves it (the first job's, with a new id)."""
    first = next(iter(stack.edna.jobs.every("demo")))
    job_id = new_id()
    record = {**asdict(first), "id": job_id, "run_id": f"edna-{job_id}"}
    record["params"] = {**first.params, "job_id": job_id, "output_prefix": layout.job_prefix("demo", job_id)}
    stack.edna.blobs.put_bytes(layout.job_record("demo", job_id), json.dumps(record).encode(), "application/json")
    return job_id


def test_a_wrong_password_is_a_clear_503(airflow, tmp_path, moto_endpoint):
    with running_stack("s3", tmp_path, moto_endpoint, **on_airflow(airflow.url, airflow_password="wrong")) as stack:
        refused = failed_start(stack)
    assert refused.status == 503 and "refused the service's credentials" in refused.body["message"]
    assert PASSWORD not in str(refused.body) and airflow.url not in str(refused.body)


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("where", ["closed port", "silent server"])
def test_an_unreachable_airflow_is_a_clear_503_within_the_timeout(where, tmp_path, moto_endpoint):
    with contextlib.ExitStack() as context:
        url = f"http://127.0.0.1:{free_port()}" if where == "closed port" else context.enter_context(silent_server())
        settings = on_airflow(url, airflow_timeout_seconds=1.0)
        stack = context.enter_context(running_stack("s3", tmp_path, moto_endpoint, **settings))
        refused = failed_start(stack)
        assert refused.status == 503 and "cannot be reached" in refused.body["message"]
        # Jobs already running still show their progress from storage while Airflow is away.
        job_id = started_before_the_outage(stack)
        assert stack.client("viewer").call("GET", f"/api/jobs/{job_id}")["status"] == "queued"


def test_a_rejected_token_is_renewed_with_the_password(airflow, tmp_path):
    access = AirflowAccess(airflow.url, USER, PASSWORD, token="expired.or.forged", timeout=5)
    runner = AirflowJobRunner(access, tmp_path / "mark.json")
    assert runner.run_state("edna-no-such-run") is None
    runner.close()
    forged = AirflowJobRunner(AirflowAccess(airflow.url, token="expired.or.forged", timeout=5), tmp_path / "mark.json")
    with pytest.raises(Unavailable, match="refused the service's credentials"):
        forged.run_state("edna-no-such-run")
    forged.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "EDNA_AIRFLOW_URL is required"),
        ({"airflow_url": "http://airflow:8080"}, "EDNA_AIRFLOW_USERNAME"),
        ({"airflow_url": "http://airflow:8080", "airflow_token": "t", "storage": "local"}, "EDNA_STORAGE=s3"),
    ],
)
def test_incomplete_settings_stop_the_start(settings, message):
    config = Config(jobs="airflow", storage="s3", s3_bucket="b").replace(**settings)
    with pytest.raises(ValueError, match=message):
        build_job_runner(config)
