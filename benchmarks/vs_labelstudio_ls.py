"""Label Studio's side of benchmarks/vs_labelstudio.py: 1.23.2 in its own venv, SQLite, one project.

Label Studio 1.23 turns personal access tokens (JWTs with a refresh step) on for new organizations
and legacy tokens off; the first start here passes `--enable-legacy-api-token` and a fixed
`--user-token`, so every request carries `Authorization: Token ...` (one table look-up) as scripts
of earlier versions did.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import requests
from local_servers import free_port, log, spawn_until_healthy, stop

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "labelstudio-venv"
VERSION = "1.23.2"
EMAIL = "bench@example.org"


def install() -> None:
    """A fresh venv under build/ with label-studio==VERSION (never a dependency of Edna)."""
    started = time.perf_counter()
    if not (VENV / "bin" / "python").exists():
        subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"label-studio=={VERSION}"], check=True)
    log(f"Label Studio {VERSION} installed in {time.perf_counter() - started:.0f} s")


def label_config(classes: list[str]) -> str:
    choices = "".join(f'<Choice value="{name}"/>' for name in classes)
    return f'<View><Image name="image" value="$image"/><Choices name="label" toName="image">{choices}</Choices></View>'


class LabelStudioSide:
    """One `label-studio start` and one project; the same calls as EdnaSide, through Label Studio's API."""

    name = "Label Studio"

    def __init__(self, data_dir: Path, classes: list[str]):
        self.data_dir = data_dir
        self.classes = classes
        self.token = secrets.token_hex(20)
        self.password = "p" + secrets.token_hex(12)  # never "-...": argparse would take it for a flag
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {self.token}"
        self.base = ""
        self.project = 0
        self.first_start_s = 0.0
        self.listed_bytes = 0

    def start(self, first: bool = False, timeout: float = 300.0) -> float:
        """Seconds from spawning `label-studio start` to its first 200 from /health."""
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        command = [str(VENV / "bin" / "label-studio"), "start", "--no-browser", "--port", str(port)]
        command += ["--host", self.base, "--internal-host", "127.0.0.1", "--data-dir", str(self.data_dir)]
        if first:
            command += ["--username", EMAIL, "--password", self.password, "--user-token", self.token]
            command += ["--enable-legacy-api-token"]
        environment = os.environ | {"LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir), "COLLECT_ANALYTICS": "false"}
        self.process, seconds = spawn_until_healthy(
            command, self.base + "/health", self.data_dir / "server.log", timeout, cwd=self.data_dir, env=environment
        )
        return seconds

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def setup(self) -> None:
        """The first start (migrations, the user with its token) and an empty project with the classes."""
        self.first_start_s = self.start(first=True)
        log(f"  first start (migrations, user) {self.first_start_s:.1f} s")
        body = {"title": "vs-edna", "label_config": label_config(self.classes)}
        created = self.http.post(f"{self.base}/api/projects", json=body, timeout=60)
        created.raise_for_status()
        self.project = created.json()["id"]

    def sign_in(self) -> None:
        """Nothing to do: the legacy token does not expire."""

    def register(self, images: Path, image_urls: list[str]) -> float:
        """One import of N task URLs pointing at the PNGs served on loopback."""
        tasks = [{"image": url} for url in image_urls]
        started = time.perf_counter()
        answer = self.http.post(f"{self.base}/api/projects/{self.project}/import", json=tasks, timeout=3600)
        seconds = time.perf_counter() - started
        answer.raise_for_status()
        if answer.json().get("task_count") != len(tasks):
            raise SystemExit(f"Label Studio imported {answer.json()} instead of {len(tasks)} tasks")
        return seconds

    def _pages(self, extra: dict) -> list[int]:
        ids, page, self.listed_bytes = [], 1, 0
        while True:
            params = {"project": self.project, "page": page, "page_size": 100} | extra
            answer = self.http.get(f"{self.base}/api/tasks", params=params, timeout=120)
            answer.raise_for_status()
            self.listed_bytes += len(answer.content)
            body = answer.json()
            ids += [task["id"] for task in body["tasks"]]
            if len(ids) >= body["total"] or not body["tasks"]:
                return ids
            page += 1

    def list_all(self) -> list[int]:
        """Every task, in pages of 100 through the tasks API (its default fields)."""
        return self._pages({})

    def list_ids(self) -> list[int]:
        """Every task id, in pages of 100, asking for the id field alone (`listed_bytes` shows what that saves)."""
        return self._pages({"fields": "task_only", "include": "id"})

    def health(self) -> int:
        return requests.get(f"{self.base}/health", timeout=30).status_code

    def set_label(self, task_id: int, label: str) -> int:
        result = [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]
        url = f"{self.base}/api/tasks/{task_id}/annotations/"
        return self.http.post(url, json={"result": result}, timeout=30).status_code

    def _filtered(self, field: str, value: str) -> tuple[int, int]:
        rule = {"filter": field, "operator": "contains", "type": "String", "value": value}
        query = json.dumps({"filters": {"conjunction": "and", "items": [rule]}})
        params = {"project": self.project, "page": 1, "page_size": 100, "query": query}
        answer = self.http.get(f"{self.base}/api/tasks", params=params, timeout=120)
        return answer.status_code, len(answer.json().get("tasks", []))

    def filter_by_label(self, label: str) -> tuple[int, int]:
        """The first page of 100 tasks whose annotations hold this choice (the data manager's filter)."""
        return self._filtered("filter:tasks:annotations_results", label)

    def search(self, term: str) -> tuple[int, int]:
        """The first page of 100 tasks whose image URL holds the term (Label Studio has no full-text index)."""
        return self._filtered("filter:tasks:data.image", term)

    def export(self, kind: str) -> tuple[int, int]:
        """Every task (annotated or not, as Edna's export), streamed and dropped: (status, bytes)."""
        params = {"exportType": kind.upper(), "download_all_tasks": "true"}
        size = 0
        url = f"{self.base}/api/projects/{self.project}/export"
        with self.http.get(url, params=params, stream=True, timeout=3600) as r:
            for chunk in r.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
            return r.status_code, size
