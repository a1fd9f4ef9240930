"""The real-browser harness: Edna served by `python -m service run` (demo seeded once a run) and Debian's Chromium.

A browser test module declares `pytest_plugins = ["harness"]` and `pytestmark = needs_chromium`; its tests
then ask for `edna_server`, `demo_credentials`, `browser` or `page` (plus `page_watch` to allow the
4xx responses a test provokes on purpose), and save pictures with `shot(page, name)`.

PYTEST_DONT_REWRITE: test modules import this before `pytest_plugins` loads it (and it uses no bare assert).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DEMO_MODELS = {"digits-logistic-regression", "digits-random-forest"}
VIEWPORT = {"width": 1280, "height": 800}

# CI must run the browser tests: there a missing Chromium fails them (in the `browser` fixture) instead.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not IN_CI,
    reason=f"{CHROMIUM} is missing: `make test` installs Debian's chromium (or apt-get install -y chromium)",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so `page` can photograph a failed test before closing."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _log_tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class EdnaServer:
    """A running `python -m service run` with the demo seeding in the background."""

    base_url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def url(self, path: str = "/") -> str:
        return self.base_url + "/" + path.lstrip("/")

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"Edna exited with {self.process.returncode}; log tail:\n{_log_tail(self.log_path)}")
        if "demo: seeding failed" in self.log_path.read_text(errors="replace"):
            raise RuntimeError(f"the demo seeding failed; log tail:\n{_log_tail(self.log_path)}")

    def wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                if requests.get(self.url("/api/health"), timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # refused, or accepted while workers boot
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no /api/health after {timeout} s; log tail:\n{_log_tail(self.log_path)}")
            time.sleep(0.1)

    def wait_for_demo(self, timeout: float = 240.0) -> dict[str, str]:
        """Block until the demo is fully seeded; returns the demo passwords by username.

        The seeding registers the models last, so alice seeing both models available means it is done.
        """
        credentials_file = self.data_dir / "demo-credentials.json"
        deadline = time.monotonic() + timeout
        token = None
        while True:
            self._check_alive()
            if token is None and credentials_file.exists():
                password = json.loads(credentials_file.read_text())["alice"]
                login = requests.post(
                    self.url("/api/auth/token"), json={"username": "alice", "password": password}, timeout=10
                )
                if login.status_code == 200:
                    token = login.json()["access_token"]
            if token is not None:
                models = requests.get(
                    self.url("/api/models"), headers={"Authorization": f"Bearer {token}"}, timeout=10
                ).json()["items"]
                if {m["name"] for m in models if m["status"] == "available"} >= DEMO_MODELS:
                    return json.loads(credentials_file.read_text())
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo not seeded after {timeout} s; log tail:\n{_log_tail(self.log_path)}")
            time.sleep(0.5)

    def wait_for_jobs(self, timeout: float = 300.0) -> None:
        """Block until none of the demo's jobs is queued or running (a copy of the data dir then holds
        their results, and no server over a copy runs them again)."""
        password = json.loads((self.data_dir / "demo-credentials.json").read_text())["alice"]
        login = requests.post(self.url("/api/auth/token"), json={"username": "alice", "password": password}, timeout=10)
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            jobs = requests.get(self.url("/api/jobs"), headers=headers, timeout=10).json()["items"]
            if all(job["status"] in ("succeeded", "failed", "cancelled") for job in jobs):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo jobs unfinished after {timeout} s; log tail:\n{_log_tail(self.log_path)}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _start(data_dir: Path, log_path: Path, *flags: str) -> EdnaServer:
    port = free_port()
    command = [sys.executable, "-m", "service", "run", "--host", "127.0.0.1", "--port", str(port), *flags]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = EdnaServer(f"http://127.0.0.1:{port}", data_dir, log_path, process)
    server.wait_until_up()
    return server


def _seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the demo seeded by `make run`'s own path and its jobs finished, made once per
    test run: under pytest-xdist the first worker to ask seeds it while the others wait on a lock
    (four seedings at once cost minutes of both cores)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    seeded, done = root / "edna-demo", root / "edna-demo.done"
    with (root / "edna-demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            server = _start(seeded, ARTIFACTS / "server-seed.log")
            try:
                server.wait_for_demo()
                server.wait_for_jobs()
            finally:
                server.stop()
            done.touch()
    return seeded


@pytest.fixture(scope="session")
def edna_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdnaServer]:
    """Edna as `make run` starts it, on a free port over its own copy of the seeded demo; its output
    goes to server.log (server-gw0.log … under pytest-xdist: one server per worker)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    data_dir = tmp_path_factory.mktemp("edna-browser")
    shutil.copytree(_seeded_demo(tmp_path_factory), data_dir, dirs_exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    server = _start(data_dir, ARTIFACTS / (f"server-{worker}.log" if worker else "server.log"), "--no-demo")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_credentials(edna_server: EdnaServer) -> dict[str, str]:
    """The demo users' passwords by username, once the demo's dataset, labels and models are all in place."""
    return edna_server.wait_for_demo()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the session, driven by Playwright's sync API."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing and CI=true: the browser tests must run in CI (`make test` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


# A page's own navigation or AbortController cancels requests on purpose; that is not a failure.
_ABORTED = "net::ERR_ABORTED"
# Chromium logs every failed load and >= 400 response as a console error too; the listeners report those.
_LOAD_CONSOLE = "Failed to load resource: "


class PageWatch:
    """What went wrong in one page: console errors, uncaught exceptions, failed requests and >= 400 responses."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._allowed: list[tuple[int, str]] = []

    def allow(self, status: int, url_contains: str = "") -> None:
        """Declare an expected error response, e.g. `page_watch.allow(401, "/api/auth/token")`."""
        self._allowed.append((status, url_contains))

    def attach(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught exception: {error}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type == "error" and not message.text.startswith(_LOAD_CONSOLE):
            where = message.location.get("url", "")
            self.problems.append(f"console error: {message.text}" + (f" ({where})" if where else ""))

    def _on_request_failed(self, request) -> None:
        if request.failure != _ABORTED:
            self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _on_response(self, response) -> None:
        status, url = response.status, response.url
        if status >= 400 and not any(status == s and part in url for s, part in self._allowed):
            self.problems.append(f"unexpected response: {status} {response.request.method} {url}")


@pytest.fixture
def page_watch() -> PageWatch:
    """The current test's `PageWatch`; call `.allow(status, url_contains)` before provoking that response."""
    return PageWatch()


@pytest.fixture
def page(browser, edna_server: EdnaServer, page_watch: PageWatch, request: pytest.FixtureRequest):
    """A page in a fresh context (1280x800, base URL = the server's): `page.goto("/")` opens the app.

    At teardown it fails the test if the page logged errors, threw, or got an undeclared >= 400 response.
    """
    context = browser.new_context(viewport=VIEWPORT, base_url=edna_server.base_url)
    page = context.new_page()
    page_watch.attach(page)
    try:
        yield page
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            shot(page, "failed")
    finally:
        context.close()
    if page_watch.problems:
        pytest.fail("the page reported problems:\n  " + "\n  ".join(page_watch.problems), pytrace=False)


def sign_in(page, username: str, password: str) -> None:
    """Sign in through the app's form and wait for the header to show the role."""
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#my-role")).to_be_visible()


def _test_name() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test")
    name = current.rsplit("::", 1)[-1].rsplit(" (", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def shot(page, name: str) -> Path:
    """Save a full-page PNG as test-artifacts/browser/<test>-<name>.png; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{_test_name()}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
