"""A real Airflow 3 for tests and benchmarks: its API server and scheduler as subprocesses (LocalExecutor,
SQLite metadata in a temp dir), running the project's dags/ and plugins/ with one known user whose
role, `user`, is the least that triggers and changes DAG runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(__file__).resolve().parent / "airflow_site"  # sitecustomize.py: see its docstring
DAG_ID = "edna_inference"
USER, PASSWORD = "edna", "edna-airflow-test"
SETUP_TIMEOUT = 180  # seconds for `db migrate` and `dags reserialize` (bounds, not measurements)
START_TIMEOUT = 120  # seconds until the API server signs the user in and the scheduler heartbeats
STOP_TIMEOUT = 20
MEMORY_LIMIT_MB = 1500  # the processes' sum (about 530 MB measured here): beyond it they are killed


@dataclass
class Airflow:
    """A running Airflow: its base URL, its home, and the peak memory of its processes."""

    url: str
    home: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    peak_pss_mb: float = 0.0

    def token(self) -> str:
        answer = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return requests.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=10, **kwargs)

    def logs(self) -> str:
        """The processes' own logs and every task's, for a failing test's message."""
        parts = [f"== {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.home.glob("*.log"))]
        for task_log in sorted((self.home / "logs").rglob("*.log")):
            parts.append(f"== {task_log.relative_to(self.home)}\n{task_log.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_env(home: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """Airflow's configuration as environment variables; `extra` adds the DAG's (`AIRFLOW__EDNA__*`, AWS_*)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EDNA_"))}
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    return {
        **base,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
        "PYTHONPATH": str(SITE),
        "PYTHONUNBUFFERED": "1",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",  # task processes at once: two cores, shared with the suite
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:user",  # the least role that runs DAGs
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        # Shared by the API server (which signs task tokens) and the scheduler's workers; PyJWT wants an issuer.
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
        "AIRFLOW__API_AUTH__JWT_ISSUER": "edna-tests",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        **extra,
    }


def _setup(env: dict[str, str], *command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *command], env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT
    )
    if done.returncode:
        raise RuntimeError(f"airflow {' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _sessions_pss_mb(sessions: set[int]) -> float:
    """Proportional memory (shared pages split between their users) of every process in these sessions:
    the servers and the task processes they fork."""
    total_kb = 0
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) not in sessions:  # field 6: session
                continue
            rollup = (proc / "smaps_rollup").read_text()
            total_kb += int(rollup.split("\nPss:", 1)[1].split()[0])
    return total_kb / 1024


def _sample_memory(airflow: Airflow, stop: threading.Event) -> None:
    """Keep the peak; past the limit, kill every process (the test then fails on the dead Airflow)."""
    sessions = {p.pid for p in airflow.processes}
    while not stop.wait(0.5):
        airflow.peak_pss_mb = max(airflow.peak_pss_mb, _sessions_pss_mb(sessions))
        if airflow.peak_pss_mb > MEMORY_LIMIT_MB:
            for session in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(session, signal.SIGKILL)
            return


def _wait_ready(airflow: Airflow) -> None:
    """Until the user signs in, the DAG is known and the scheduler has a live heartbeat."""
    deadline = time.monotonic() + START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        for process in airflow.processes:
            if process.poll() is not None:
                raise RuntimeError(f"an Airflow process exited ({process.args}):\n{airflow.logs()}")
        try:
            health = requests.get(f"{airflow.url}/api/v2/monitor/health", timeout=5).json()
            if health["scheduler"]["status"] == "healthy" and airflow.api("GET", f"/dags/{DAG_ID}").ok:
                return
            last = str(health)
        except requests.RequestException as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"Airflow not ready after {START_TIMEOUT} s ({last}):\n{airflow.logs()}")


@contextlib.contextmanager
def running_airflow(home: Path, extra_env: dict[str, str]) -> Iterator[Airflow]:
    """An API server and a scheduler over a fresh metadata database in `home`, with the DAG serialized
    up front (no DAG processor: the DAG does not change during a test) and unpaused."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = airflow_env(home, port, extra_env)
    _setup(env, "db", "migrate")
    _setup(env, "dags", "reserialize")
    airflow = Airflow(f"http://127.0.0.1:{port}", home)
    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],  # the API server reads task logs from their files
    }
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(airflow, stop), daemon=True)
    try:
        for name, args in commands.items():
            with open(home / f"{name}.log", "w") as log:
                airflow.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "airflow", *args],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own group: stopping it stops the workers it forked
                    )
                )
        sampler.start()
        _wait_ready(airflow)
        airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
        yield airflow
    finally:
        stop.set()
        for process in airflow.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in airflow.processes:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
