"""MwaaJobRunner against botocore's Stubber, which checks every request against the MWAA service model."""

import boto3
import pytest
from botocore.stub import Stubber

from service.adapters.jobrunner.mwaa import MwaaJobRunner
from service.vocabulary.errors import Unavailable

PARAMS = {
    "job_id": "01j0000000000000000000000a",
    "items_prefix": "tenants/demo/datasets/d/items/",
    "model_key": "tenants/demo/models/m/model.onnx",
    "output_prefix": "tenants/demo/jobs/j/",
    "batch_size": 64,
    "max_memory_mb": 256,
    "shards": 2,
}
RUN = "edna-01j0000000000000000000000a"


@pytest.fixture
def runner():
    client = boto3.client("mwaa", region_name="us-east-1")
    with Stubber(client) as stub:
        yield MwaaJobRunner("edna-dev", client), stub
        stub.assert_no_pending_responses()


def test_submit_triggers_one_dag_run_with_the_engine_parameters(runner):
    mwaa, stub = runner
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"dag_run_id": RUN, "state": "queued"}},
        expected_params={
            "Name": "edna-dev",
            "Path": "/dags/edna_inference/dagRuns",
            "Method": "POST",
            "Body": {"dag_run_id": RUN, "conf": PARAMS, "logical_date": None},
        },
    )
    assert mwaa.submit(PARAMS) == RUN == mwaa.run_id_of(PARAMS["job_id"])  # what a similar-image query asks about


@pytest.mark.parametrize(
    ("airflow", "edna"), [("queued", "queued"), ("running", "running"), ("success", "succeeded"), ("failed", "failed")]
)
def test_run_state_reads_the_dag_run(runner, airflow, edna):
    mwaa, stub = runner
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"dag_run_id": RUN, "state": airflow}},
        expected_params={"Name": "edna-dev", "Path": f"/dags/edna_inference/dagRuns/{RUN}", "Method": "GET"},
    )
    assert mwaa.run_state(RUN) == edna


def test_cancel_marks_the_run_failed(runner):
    mwaa, stub = runner
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"dag_run_id": RUN, "state": "failed"}},
        expected_params={
            "Name": "edna-dev",
            "Path": f"/dags/edna_inference/dagRuns/{RUN}",
            "Method": "PATCH",
            "Body": {"state": "failed"},
        },
    )
    mwaa.cancel(PARAMS, RUN)


def test_scheduler_errors_are_503_not_500(runner):
    mwaa, stub = runner
    stub.add_client_error("invoke_rest_api", "RestApiServerException", "airflow is down", 500)
    with pytest.raises(Unavailable, match="MWAA"):
        mwaa.submit(PARAMS)
