"""MwaaJobRunner: DAG runs on Amazon MWAA through its InvokeRestApi (Airflow's REST API via boto3)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.jobrunner import JobRunner
from service.vocabulary.errors import Unavailable

DAG_ID = "edna_inference"
STATES = {"queued": "queued", "running": "running", "success": "succeeded", "failed": "failed"}


class MwaaJobRunner(JobRunner):
    name = "mwaa"

    def __init__(self, environment: str, client: Any = None):
        self.environment = environment
        self.client = client or boto3.client("mwaa")
        self.finished = []  # never called: the workers' status writes reach the indexer as S3 events

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = {"Name": self.environment, "Path": path, "Method": method}
        if body is not None:
            request["Body"] = body
        try:
            return self.client.invoke_rest_api(**request).get("RestApiResponse") or {}
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the job scheduler (MWAA) did not accept the request: {exc}") from exc

    def run_id_of(self, job_id: str) -> str:
        return f"edna-{job_id}"

    def submit(self, params: dict) -> str:
        run_id = self.run_id_of(params["job_id"])  # one run per job: a retried submit cannot start a second
        body = {"dag_run_id": run_id, "conf": params, "logical_date": None}
        self._call("POST", f"/dags/{DAG_ID}/dagRuns", body)
        return run_id

    def cancel(self, params: dict, run_id: str) -> None:
        self._call("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", {"state": "failed"})

    def run_state(self, run_id: str) -> str | None:
        return STATES.get(self._call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}").get("state", ""))

    def follow(self) -> None:
        """Nothing to watch: the workers' status writes reach the indexer as S3 events."""

    def close(self) -> None:
        """Nothing to release: runs live in MWAA."""
