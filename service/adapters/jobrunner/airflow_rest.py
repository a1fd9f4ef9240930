"""AirflowJobRunner: DAG runs on any Airflow 3 deployment (the team's own), through its public REST API."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import urllib3

from service.adapters.jobrunner import JobRunner
from service.adapters.jobrunner.run_mark import RunMark
from service.vocabulary.errors import Unavailable

log = logging.getLogger("edna.jobs")
DAG_ID = "edna_inference"
STATES = {"queued": "queued", "running": "running", "success": "succeeded", "failed": "failed"}
PAGE = 100  # ended runs asked for at once


@dataclass(frozen=True)
class AirflowAccess:
    """Where the API server is and how Edna signs in: a username and password exchanged for a JWT at
    `/auth/token` (renewed when it expires), or a ready token."""

    url: str
    username: str = ""
    password: str = ""
    token: str = ""
    timeout: float = 10.0


class AirflowJobRunner(JobRunner):
    """Triggers `edna_inference` with the engine's parameters as the run's conf, one run per job. Its
    workers write to the data bucket where no storage event reaches this service, so a thread follows
    the runs that end and calls `finished` for each."""

    name = "airflow"

    def __init__(self, access: AirflowAccess, mark_path: Path, poll_seconds: float = 5.0):
        """`mark_path`: the file that keeps how far ended runs were reported (see RunMark)."""
        self.access = access
        self.mark_path = mark_path
        self.poll_seconds = poll_seconds
        # No retries: a down Airflow answers the caller within the timeout, not after several.
        timeout = urllib3.Timeout(connect=access.timeout, read=access.timeout)
        self._http = urllib3.PoolManager(timeout=timeout, retries=False)
        self._token = access.token
        self._follower: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.finished = []

    def _send(self, method: str, path: str, body: dict | None, token: str = "") -> urllib3.BaseHTTPResponse:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        try:
            return self._http.request(method, self.access.url.rstrip("/") + path, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            log.warning("Airflow at %s: %s %s failed: %s", self.access.url, method, path, exc)
            raise Unavailable("the job scheduler (Airflow) cannot be reached; try again later") from exc

    def _sign_in(self) -> str:
        if not self.access.username:
            return self.access.token
        credentials = {"username": self.access.username, "password": self.access.password}
        response = self._send("POST", "/auth/token", credentials)
        if response.status in (200, 201):
            return response.json()["access_token"]
        log.error("Airflow at %s refused to sign in %r: %s", self.access.url, self.access.username, response.status)
        if response.status in (400, 401, 403):
            raise Unavailable("the job scheduler (Airflow) refused the service's credentials")
        raise Unavailable(f"the job scheduler (Airflow) failed to sign the service in ({response.status})")

    def _call(self, method: str, path: str, body: dict | None = None, tolerate: tuple[int, ...] = ()) -> dict | None:
        """The JSON answer of `/api/v2{path}`; None for a status in `tolerate`. A rejected token is
        renewed once (it may have expired); any other failure is a 503 that says which."""
        for attempt in (1, 2):
            with self._lock:
                token = self._token
            if not token:
                token = self._sign_in()
                with self._lock:
                    self._token = token
            response = self._send(method, "/api/v2" + path, body, token)
            # Airflow 3.0 answers an expired token with 403 "Invalid JWT token", later versions with 401.
            if response.status in (401, 403) and attempt == 1 and self.access.username:
                with self._lock:
                    self._token = ""
                continue
            break
        if 200 <= response.status < 300:
            return response.json()
        if response.status in tolerate:
            return None
        log.error("Airflow at %s: %s %s answered %s: %s", self.access.url, method, path, response.status, response.data)
        if response.status in (401, 403):
            raise Unavailable("the job scheduler (Airflow) refused the service's credentials")
        if response.status == 404:
            raise Unavailable(f"the job scheduler (Airflow) has no DAG {DAG_ID!r}: deploy dags/ and plugins/ to it")
        raise Unavailable(f"the job scheduler (Airflow) did not accept the request ({response.status})")

    def run_id_of(self, job_id: str) -> str:
        return f"edna-{job_id}"

    def submit(self, params: dict) -> str:
        dag = self._call("GET", f"/dags/{DAG_ID}")
        if dag.get("is_paused"):  # the run would wait for ever: Airflow pauses new DAGs by default
            raise Unavailable(f"the DAG {DAG_ID!r} is paused on the job scheduler (Airflow): unpause it")
        run_id = self.run_id_of(params["job_id"])  # one run per job: a resubmit (a resumed job) finds it
        body = {"dag_run_id": run_id, "conf": params, "logical_date": None}
        self._call("POST", f"/dags/{DAG_ID}/dagRuns", body, tolerate=(409,))
        self.follow()
        return run_id

    def cancel(self, params: dict, run_id: str) -> None:
        # A run Airflow no longer has (deleted there) has nothing to stop: the engine's marker says the rest.
        self._call("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", {"state": "failed"}, tolerate=(404,))

    def run_state(self, run_id: str) -> str | None:
        run = self._call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}", tolerate=(404,))
        return None if run is None else STATES.get(run.get("state", ""))

    def follow(self) -> None:
        """Report, every `poll_seconds`, the DAG's runs that ended since the mark: those of this server's
        jobs, ended while it ran or while it was stopped (other runs' conf names no job of its storage)."""
        with self._lock:
            if self._follower is None and not self._closed.is_set():
                self._follower = threading.Thread(target=self._follow, name="edna-airflow-runs", daemon=True)
                self._follower.start()

    def _follow(self) -> None:
        mark = RunMark(self.mark_path)
        while True:
            with contextlib.suppress(Unavailable):  # logged; the next round asks again
                self._report_ended(mark)
            if self._closed.wait(self.poll_seconds):
                return

    def _report_ended(self, mark: RunMark) -> None:
        while True:
            query = urlencode(
                [
                    ("end_date_gte", mark.since.isoformat()),
                    ("state", "success"),
                    ("state", "failed"),
                    ("order_by", "end_date"),
                    ("limit", PAGE),
                ]
            )
            runs = self._call("GET", f"/dags/{DAG_ID}/dagRuns?{query}")["dag_runs"]
            fresh = [run for run in runs if not mark.reported(run["dag_run_id"])]
            for run in fresh:
                if self._closed.is_set():
                    return
                if (run.get("conf") or {}).get("output_prefix"):
                    self.report_finished(run["conf"])
                mark.advance(run["end_date"], run["dag_run_id"])
            if len(runs) < PAGE or not fresh:
                return

    def close(self) -> None:
        """Stop following: the runs go on in Airflow, and the next start reports those that ended."""
        self._closed.set()
        with self._lock:
            follower = self._follower
        if follower is not None:
            follower.join(self.access.timeout + 5)  # at most one call in flight
        self._http.clear()
