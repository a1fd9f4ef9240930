"""The real edna_inference DAG: integrity, an end-to-end run in moto S3, a retried task, failed runs.

Everything runs in this one process with one SQLite database (the first dag.test() is the slow one).
The setup lives here rather than in a conftest.py: tests/api import the root conftest by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.engine.digits import DIGITS_SPEC, digit_items, digits_model

ROOT = Path(__file__).resolve().parents[2]
BUCKET = f"edna-dags-{uuid.uuid4().hex[:8]}"

# Airflow reads its configuration when first imported: this runs at collection, before any test imports it.
os.environ.update(
    AIRFLOW_HOME=tempfile.mkdtemp(prefix="edna-airflow-"),
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__EDNA__DATA_BUCKET=BUCKET,
    AIRFLOW__EDNA__RETRY_DELAY_SECONDS="1",
)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh SQLite metadata database, once per session."""
    from airflow.utils import db

    db.initdb()
    with _json_content_type():
        yield
    shutil.rmtree(os.environ["AIRFLOW_HOME"], ignore_errors=True)


@contextlib.contextmanager
def _json_content_type() -> Iterator[None]:
    """Give the task SDK's JSON requests a Content-Type, as Airflow's own later fix does (apache/airflow#63215)."""
    # Airflow 3.0.6's task SDK sends JSON bodies without one (apache/airflow#63209), and the FastAPI its own
    # dependencies require (cadwyn: fastapi >= 0.137.1) answers 422 to every task start without it. Only the
    # in-process dag.test() is affected: MWAA installs Airflow with its constraints file.
    from airflow.sdk.api.client import Client

    original = Client.request

    def request(self, *args, **kwargs):
        if kwargs.get("content") is not None:
            kwargs["headers"] = {"content-type": "application/json", **dict(kwargs.get("headers") or {})}
        return original(self, *args, **kwargs)

    Client.request = request
    try:
        yield
    finally:
        Client.request = original


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"), include_examples=False)


@pytest.fixture(scope="session")
def s3(moto_endpoint):
    """A client on the moto server, with the data bucket created."""
    client = boto3.client("s3", endpoint_url=moto_endpoint, config=Config(signature_version="s3v4"))
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(autouse=True)
def s3_endpoint(moto_endpoint, monkeypatch) -> None:
    """The DAG's S3Storage finds the moto server through AWS_ENDPOINT_URL_S3, as boto3 reads it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)


@pytest.fixture(scope="session")
def dataset(s3) -> dict:
    """60 digits (labels as object tags) and the logistic-regression model in the bucket; the job's base conf."""
    for key, data, label in digit_items(60, "tenants/t/datasets/d/items/"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=data, Tagging=f"label={label}")
    s3.put_object(Bucket=BUCKET, Key="tenants/t/models/m/model.onnx", Body=digits_model("logistic"))
    s3.put_object(Bucket=BUCKET, Key="tenants/t/models/m/model.json", Body=json.dumps(DIGITS_SPEC).encode())
    return {
        "items_prefix": "tenants/t/datasets/d/items/",
        "model_key": "tenants/t/models/m/model.onnx",
        "batch_size": 8,
        "shards": 2,
    }


# Airflow 3.0.6's own use of newer pathspec, Starlette and Cadwyn releases: not this project's to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:'HTTP_422_UNPROCESSABLE_ENTITY' is deprecated"),
    pytest.mark.filterwarnings("ignore:Cadwyn's changelog feature is deprecated:DeprecationWarning"),
]


def read(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def lines(s3, prefix: str) -> list[dict]:
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))
    return [json.loads(line) for key in keys for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_lines()]


def conf(dataset: dict, **overrides) -> dict:
    job_id = f"j-{uuid.uuid4().hex[:8]}"
    return {**dataset, "job_id": job_id, "output_prefix": f"tenants/t/jobs/{job_id}/", **overrides}


def test_dagbag_loads_without_errors_and_every_task_has_retries_and_docs(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["edna_inference"]
    dag = dagbag.get_dag("edna_inference")
    assert dag.doc_md and "plan" in dag.doc_md
    assert dag.schedule is None
    assert {t.task_id for t in dag.tasks} == {"plan", "infer", "evaluate", "finalize"}
    for t in dag.tasks:
        assert t.retries >= 1, t.task_id
        assert t.retry_exponential_backoff, t.task_id
        assert t.doc_md and t.doc_md.strip().startswith("####"), t.task_id
    assert dag.get_task("infer").upstream_task_ids == {"plan"}
    assert dag.get_task("evaluate").upstream_task_ids == {"infer"}
    assert dag.get_task("finalize").upstream_task_ids == {"evaluate"}
    assert dag.on_failure_callback


def test_the_engine_is_not_loaded_as_an_airflow_plugin(dagbag):
    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()
    assert not plugins_manager.import_errors
    assert not {"pipeline", "storage", "shard", "model"} & set(sys.modules)


@pytest.mark.parametrize("change", [{"batch_size": 0}, {"shards": 65}, {"items_prefix": "no-slash"}])
def test_invalid_params_are_refused(dagbag, dataset, change):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        dagbag.get_dag("edna_inference").test(run_conf=conf(dataset, **change))


def test_a_run_predicts_every_item_and_records_metrics(dagbag, dataset, s3):
    job = conf(dataset)
    run = dagbag.get_dag("edna_inference").test(run_conf=job)
    assert run.state == "success"
    out = job["output_prefix"]
    predictions = lines(s3, out + "parts/")
    assert len(predictions) == 60 and max(Counter(p["key"] for p in predictions).values()) == 1
    plan = read(s3, out + "plan.json")
    assert plan["total"] == 60 and plan["shards"] == 2 and sum(plan["counts"]) == 60
    metrics = read(s3, out + "metrics.json")
    assert metrics["items"] == metrics["evaluated"] == 60 and metrics["accuracy"] > 0.9
    status = read(s3, out + "status.json")
    assert status["status"] == "succeeded" and status["progress"] == {"done": 60, "total": 60}
    assert status["metrics"]["confusion"] == metrics["confusion"]
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "infer"]
    assert sorted(ti.map_index for ti in mapped) == [0, 1]


def test_a_task_failing_once_is_retried_and_the_run_succeeds(dagbag, dataset, s3, monkeypatch):
    from edna_engine import pipeline

    real, calls = pipeline.infer_shard, []

    def flaky(storage, params, shard, on_progress=None):
        calls.append(shard)
        if len(calls) == 1:
            raise ConnectionError("injected: the first shard attempt loses its connection")
        return real(storage, params, shard, on_progress)

    monkeypatch.setattr(pipeline, "infer_shard", flaky)
    job = conf(dataset)
    run = dagbag.get_dag("edna_inference").test(run_conf=job)
    assert run.state == "success"
    assert len(calls) == 3 and calls.count(calls[0]) == 2  # the failed shard ran twice, the other once
    tries = {ti.map_index: ti.try_number for ti in run.get_task_instances() if ti.task_id == "infer"}
    assert sorted(tries.values()) == [1, 2]
    assert read(s3, job["output_prefix"] + "status.json")["status"] == "succeeded"
    assert len(lines(s3, job["output_prefix"] + "parts/")) == 60


def test_a_job_that_cannot_run_fails_at_once_and_is_marked_failed(dagbag, dataset, s3):
    s3.put_object(Bucket=BUCKET, Key="tenants/t/models/bad/model.onnx", Body=b"whatever")
    s3.put_object(Bucket=BUCKET, Key="tenants/t/models/bad/model.json", Body=b'{"class_names": ["a"]}')
    job = conf(dataset, model_key="tenants/t/models/bad/model.onnx")
    run = dagbag.get_dag("edna_inference").test(run_conf=job)
    assert run.state == "failed"
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert plan.try_number == 1  # no retry can fix a broken model.json
    status = read(s3, job["output_prefix"] + "status.json")
    assert status["status"] == "failed" and "invalid model.json" in status["error"]


def test_the_dag_failure_callback_marks_a_failed_run(dagbag, dataset, s3, monkeypatch):
    from edna_engine import pipeline

    def broken(storage, params):
        raise RuntimeError("injected: evaluate cannot read the shards")

    monkeypatch.setattr(pipeline, "evaluate", broken)
    dag = dagbag.get_dag("edna_inference")
    evaluate = dag.get_task("evaluate")
    monkeypatch.setattr(evaluate, "retries", 0)
    monkeypatch.setattr(evaluate, "on_failure_callback", [])  # leave the reporting to the DAG's callback
    job = conf(dataset)
    run = dag.test(run_conf=job)
    assert run.state == "failed"
    status = read(s3, job["output_prefix"] + "status.json")
    assert status["status"] == "failed"
    assert status["error"] == "the inference run failed (task_failure); the Airflow task logs say why"
    assert status["progress"] == {"done": 60, "total": 60}


def test_a_task_failure_callback_reports_its_task(dagbag, dataset, s3, monkeypatch):
    from edna_engine import pipeline

    def broken(storage, params):
        raise RuntimeError("injected")

    monkeypatch.setattr(pipeline, "finalize", broken)
    dag = dagbag.get_dag("edna_inference")
    monkeypatch.setattr(dag.get_task("finalize"), "retries", 0)
    job = conf(dataset)
    assert dag.test(run_conf=job).state == "failed"
    status = read(s3, job["output_prefix"] + "status.json")
    assert status["status"] == "failed" and status["error"].startswith("task finalize failed")
