"""The production server of `python -m service run`: gunicorn's worker processes serve the API, and one
runner process does the background work (jobs, thumbnails, webhook deliveries, resuming, the demo)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

from service.bootstrap import Part
from service.settings import Config

log = logging.getLogger("edna.server")

RUNNER_STOP_SECONDS = 30  # it ends running jobs and writes what its meter holds
PARENT_CHECK_SECONDS = 1.0  # how soon a runner whose server was killed (SIGKILL) notices and stops


def workers_for(config: Config) -> int:
    """The configured count, or one per core this process may use."""
    return config.web_workers or len(os.sched_getaffinity(0))


class _Gunicorn(BaseApplication):
    """gunicorn's arbiter over a socket already bound: every worker builds its own app after the fork,
    so no SQLite connection or thread crosses a fork."""

    def __init__(self, make_app: Callable[[], object], listener: socket.socket, config: Config, ready: Callable):
        self.make_app = make_app
        self.settings = {
            "when_ready": ready,  # the arbiter listens: connections wait in the backlog while workers boot
            "bind": [f"fd://{listener.fileno()}"],
            "workers": workers_for(config),
            "worker_class": "gthread",  # a worker's threads wait on storage and SQLite while others compute
            "threads": config.web_threads,
            # X-Forwarded-Proto is believed from the proxies Edna believes X-Forwarded-For from, and no others.
            "forwarded_allow_ips": config.trusted_proxies,
            "preload_app": False,
            "accesslog": None,
            "loglevel": "warning",  # as Werkzeug's: the console says where Edna runs, then only what went wrong
            "control_socket_disable": True,  # one path per user: servers side by side (tests) would share it
            "worker_exit": _close_app,
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self):
        return self.make_app()


def _close_app(arbiter, worker) -> None:
    """A worker going away writes what its usage meter and audit log still hold."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        app.extensions["edna"].close()


def _web_app(config: Config):
    from service import create_app

    return create_app(config, part=Part.WEB)


def serve(config: Config, host: str, port: int, demo: bool, announce: Callable[[str], None]) -> int:
    """Bind, start the runner, then serve with `workers_for(config)` processes until a signal stops it."""
    listener = _bound(host, port)
    base_url = f"http://{host}:{listener.getsockname()[1]}"
    runner = _start_runner(config, base_url, demo)
    where = f"{base_url}  ({workers_for(config)} worker processes; data in {config.data_dir.resolve()}; Ctrl-C stops)"
    arbiter = os.getpid()
    try:
        _Gunicorn(lambda: _web_app(config), listener, config, lambda _: announce(where)).run()
    finally:
        if os.getpid() == arbiter:  # a worker leaves through here too, after its fork: it leaves the runner be
            runner.terminate()  # SIGTERM: it stops its jobs, which resume on the next start
            with contextlib.suppress(subprocess.TimeoutExpired):
                runner.wait(RUNNER_STOP_SECONDS)
    return 0


def _bound(host: str, port: int) -> socket.socket:
    """A socket bound (port 0 picks a free port) but not listening: connections are refused until
    gunicorn's arbiter listens on it, once the runner has made the data dir's keys and databases."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.set_inheritable(True)
    return listener


def _start_runner(config: Config, base_url: str, demo: bool) -> subprocess.Popen:
    """`python -m service runner` in a fresh interpreter (no state of this one crosses), once it is ready."""
    ready, told = os.pipe()
    command = [sys.executable, "-m", "service", "runner", "--data-dir", str(config.data_dir), "--url", base_url]
    command += ["--ready-fd", str(told)] + (["--demo"] if demo else [])
    runner = subprocess.Popen(command, pass_fds=[told])
    os.close(told)
    with os.fdopen(ready, "rb") as answer:  # a byte once its adapters made keys and databases; EOF if it died
        started = answer.read(1) == b"1"
    if not started:
        runner.kill()
        raise RuntimeError("the background runner did not start; see the log above")
    return runner


def run_background(config: Config, base_url: str, demo: bool, ready_fd: int) -> int:
    """The runner process: the one place jobs are dispatched, thumbnails made and webhooks delivered."""
    from service.bootstrap import build_adapters
    from service.edna import Edna

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = Edna.build(config, build_adapters(config, Part.RUNNER), Part.RUNNER)
    with os.fdopen(ready_fd, "wb") as ready:
        ready.write(b"1")
    server = os.getppid()
    try:
        start_background(state, base_url, demo)
        while not stop.wait(PARENT_CHECK_SECONDS):
            if os.getppid() != server:  # the arbiter was killed outright: its workers go, so does the runner
                break
    finally:
        state.close()
    return 0


def start_background(state, base_url: str, demo: bool) -> None:
    """Follow job runs, resume unfinished jobs, seed the demo: once per server (its runner, or the dev server)."""
    config = state.config
    # Before resuming: a local runner marks the runs a stopped server left running as stopped.
    state.adapters.jobs.follow()  # on Airflow: also the runs that ended while the server was stopped
    # Jobs and deletions live in storage: a restart resumes what was unfinished (on Airflow, finds their runs).
    if config.jobs in ("local", "airflow"):
        threading.Thread(target=_resume_jobs, args=(state,), daemon=True).start()
    if demo and config.identity == "local":
        args = (base_url, state.adapters.users, config.data_dir)
        threading.Thread(target=_seed_in_background, args=args, daemon=True).start()


def _resume_jobs(state) -> None:
    from service.vocabulary.errors import DomainError

    try:
        resumed = state.jobs.resume_unfinished()
    except DomainError as exc:  # the job scheduler is down: the jobs wait in storage for the next start
        print(f"jobs: not resumed ({exc.message})", flush=True)
    else:
        if resumed:
            print(f"jobs: resumed {resumed} unfinished job(s)", flush=True)
    deletions = state.deletions.resume_unfinished()
    if deletions:
        print(f"datasets: resumed {deletions} unfinished deletion(s)", flush=True)


def _seed_in_background(base_url: str, users, data_dir) -> None:
    from service.client import ApiError
    from service.demo import seed
    from service.vocabulary.errors import DomainError

    try:
        seed(base_url, users, data_dir)
    except (ApiError, OSError, DomainError) as exc:
        print(f"demo: seeding failed ({exc}); the server keeps running, retry with `seed-demo`", flush=True)
