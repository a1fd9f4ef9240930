"""Edna's side of benchmarks/vs_labelstudio.py: `python -m service run --no-demo` on a temp data dir."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import requests
from local_servers import free_port, spawn_until_healthy, stop

ROOT = Path(__file__).resolve().parent.parent
TENANT = "vsls"
USER = "vsls-editor"


class EdnaSide:
    """One Edna server and one dataset; every call is one client's sequential HTTP request."""

    name = "Edna"

    def __init__(self, data_dir: Path, classes: list[str]):
        self.data_dir = data_dir
        self.classes = classes
        self.password = secrets.token_urlsafe(12)
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()
        self.base = ""
        self.dataset = ""
        self.first_start_s = 0.0

    def start(self) -> float:
        """Seconds from spawning the server to its first 200 from /api/health."""
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "service", "run", "--no-demo", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--data-dir", str(self.data_dir)]
        self.process, seconds = spawn_until_healthy(
            command, self.base + "/api/health", self.data_dir / "server.log", 120, cwd=ROOT
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
        """An editor (labels too) and an empty dataset with the label classes, as an operator makes them."""
        command = [sys.executable, "-m", "service", "users", "add", USER, "--tenant", TENANT, "--role", "editor"]
        command += ["--password", self.password, "--data-dir", str(self.data_dir)]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        self.first_start_s = self.start()
        self.sign_in()
        body = {"name": "vs-labelstudio", "label_classes": self.classes}
        created = self.http.post(f"{self.base}/api/datasets", json=body, timeout=30)
        created.raise_for_status()
        self.dataset = created.json()["id"]

    def sign_in(self) -> None:
        answer = requests.post(
            f"{self.base}/api/auth/token", json={"username": USER, "password": self.password}, timeout=30
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def register(self, images: Path, image_urls: list[str]) -> float:
        """`python -m service import-prefix` of the images (the server stopped: an operator's batch),
        from the command's start until it says the items are imported (they are listed then); the
        thumbnails it makes afterwards are timed apart, in `previews_s`."""
        self.stop()
        command = [sys.executable, "-m", "service", "import-prefix", "--dataset", self.dataset, "--tenant", TENANT]
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--data-dir", str(self.data_dir), str(images)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        registered = None
        for line in process.stdout:
            if registered is None and "items imported" in line:
                registered = time.perf_counter() - started
        errors = process.stderr.read()
        if process.wait() != 0 or registered is None:
            raise SystemExit(f"import-prefix failed: {errors[-2000:]}")
        self.previews_s = time.perf_counter() - started - registered
        return registered

    @property
    def items(self) -> str:
        return f"{self.base}/api/datasets/{self.dataset}/items"

    def list_all(self) -> list[str]:
        """Every item id, in pages of 100 through the cursor."""
        ids, cursor = [], None
        while True:
            params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
            answer = self.http.get(self.items, params=params, timeout=60)
            answer.raise_for_status()
            page = answer.json()
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return ids

    def health(self) -> int:
        return requests.get(f"{self.base}/api/health", timeout=30).status_code

    def set_label(self, item_id: str, label: str) -> int:
        return self.http.put(f"{self.items}/{item_id}/label", json={"label": label}, timeout=30).status_code

    def filter_by_label(self, label: str) -> tuple[int, int]:
        """The first page of 100 items with this label: (status, how many)."""
        answer = self.http.get(self.items, params={"label": label, "limit": 100}, timeout=60)
        return answer.status_code, len(answer.json().get("items", []))

    def search(self, term: str) -> tuple[int, int]:
        """The first page of 100 full-text matches in the dataset: (status, how many)."""
        params = {"q": term, "dataset": self.dataset, "limit": 100}
        answer = self.http.get(f"{self.base}/api/search", params=params, timeout=60)
        return answer.status_code, len(answer.json().get("items", []))

    def export(self, kind: str) -> tuple[int, int]:
        """The whole export streamed and dropped: (status, bytes). JSON is Edna's JSON Lines."""
        params = {"format": {"json": "jsonl", "csv": "csv"}[kind]}
        size = 0
        with self.http.get(f"{self.base}/api/datasets/{self.dataset}/export", params=params, stream=True) as r:
            for chunk in r.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
            return r.status_code, size
