"""The production server of `python -m service run`: gunicorn's worker processes serve the API, and one
runner process does the background work (jobs, thumbnails, webhook deliveries, resuming, the demo).

The server process imports Edna and builds its routes once, then forks the runner and the workers:
they start without importing anything again and share those pages (one copy of the code in memory,
not one per process). Each builds its own state after the fork, so no SQLite connection, thread or
lock crosses one."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

from service.app import routed_app
from service.bootstrap import Part, build_adapters
from service.edna import Edna
from service.settings import Config

log = logging.getLogger("edna.server")

RUNNER_STOP_SECONDS = 30  # it ends running jobs and writes what its meter holds
PARENT_CHECK_SECONDS = 1.0  # how soon a runner whose server was killed (SIGKILL) notices and stops
RUNNER_NAME = b"edna-runner"  # its name in `ps` and /proc/<pid>/comm: forked, it shares the server's command line


def workers_for(config: Config) -> int:
    """The configured count, or one per core this process may use."""
    return config.web_workers or len(os.sched_getaffinity(0))


class _Gunicorn(BaseApplication):
    """gunicorn's arbiter over a socket already bound, serving the app built before the fork; each
    worker attaches its own state as it starts (`post_worker_init`)."""

    def __init__(self, app, listener: socket.socket, config: Config, ready: Callable):
        self.app = app
        self.settings = {
            "when_ready": ready,  # the arbiter listens: connections wait in the backlog while workers boot
            "bind": [f"fd://{listener.fileno()}"],
            "workers": workers_for(config),
            "worker_class": "gthread",  # a worker's threads wait on storage and SQLite while others compute
            "threads": config.web_threads,
            # X-Forwarded-Proto is believed from the proxies Edna believes X-Forwarded-For from, and no others.
            "forwarded_allow_ips": config.trusted_proxies,
            "preload_app": True,  # the routes, built once in this process, not once per worker
            # After the worker set its signal handlers: a stop that comes while it builds is not lost.
            "post_worker_init": lambda _worker: _attach_state(app, config),
            "proc_name": "edna",  # `ps`: gunicorn: master [edna], gunicorn: worker [edna]
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
        return self.app


def _attach_state(app, config: Config) -> None:
    """In a worker just forked: its own adapters (connections, caches, meter) behind the shared routes."""
    app.extensions["edna"] = Edna.build(config, build_adapters(config, Part.WEB), Part.WEB)


def _close_app(arbiter, worker) -> None:
    """A worker going away writes what its usage meter and audit log still hold."""
    app = getattr(worker, "wsgi", None)
    state = app.extensions.get("edna") if app is not None else None
    if state is not None:
        state.close()


def serve(config: Config, host: str, port: int, demo: bool, announce: Callable[[str], None]) -> int:
    """Bind, start the runner, then serve with `workers_for(config)` processes until a signal stops it."""
    listener = _bound(host, port)
    base_url = f"http://{host}:{listener.getsockname()[1]}"
    gc.freeze()  # what exists now is shared by every fork: the collector leaves it be, so its pages stay shared
    runner, ready, go = _fork_runner(config, base_url, demo, listener)
    app = routed_app(config, local_blobs=config.storage == "local")  # while the runner builds its state
    gc.freeze()  # the routes too, for the workers
    _wait_until_ready(runner, ready)
    where = f"{base_url}  ({workers_for(config)} worker processes; data in {config.data_dir.resolve()}; Ctrl-C stops)"

    def listening(_arbiter) -> None:
        announce(where)  # the console's first line, before anything the runner's work prints
        with os.fdopen(go, "wb") as runner_may_start:
            runner_may_start.write(b"1")

    arbiter = os.getpid()
    try:
        _Gunicorn(app, listener, config, listening).run()
    finally:
        if os.getpid() == arbiter:  # a worker leaves through here too, after its fork: it leaves the runner be
            _stop(runner)
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


def _fork_runner(config: Config, base_url: str, demo: bool, listener: socket.socket) -> tuple[int, int, int]:
    """The runner, forked: its pid, the pipe it says it is ready on, the pipe it is told to start on."""
    ready, told = os.pipe()
    wait, go = os.pipe()
    sys.stdout.flush()  # or the child would print what this process had buffered a second time
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready)
            os.close(go)
            listener.close()  # it serves nothing
            _name_this_process(RUNNER_NAME)
            code = run_background(config, base_url, demo, told, wait)
        except BaseException:  # noqa: BLE001 - the child's only way to say why it died: os._exit prints nothing
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # never back into the server's code
    os.close(told)
    os.close(wait)
    return pid, ready, go


def _wait_until_ready(pid: int, ready: int) -> None:
    """Once the runner made the data dir's keys and databases, the workers may start."""
    with os.fdopen(ready, "rb") as answer:  # a byte once its state is built; EOF if it died first
        started = answer.read(1) == b"1"
    if not started:
        os.kill(pid, signal.SIGKILL)
        raise RuntimeError("the background runner did not start; see the log above")


def _name_this_process(name: bytes) -> None:
    """prctl(PR_SET_NAME): how `ps` and `top` tell the runner from the workers."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)


def _stop(pid: int) -> None:
    """SIGTERM: the runner stops its jobs (they resume on the next start); wait for it a while."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + RUNNER_STOP_SECONDS
    while time.monotonic() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:  # gunicorn's arbiter reaps every child, the runner too
            return
        time.sleep(0.05)


def run_background(config: Config, base_url: str, demo: bool, ready_fd: int, go_fd: int) -> int:
    """The runner process: the one place jobs are dispatched, thumbnails made and webhooks delivered.
    It says when its state is built (`ready_fd`), then starts its work when the server listens (`go_fd`)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = Edna.build(config, build_adapters(config, Part.RUNNER), Part.RUNNER)
    with os.fdopen(ready_fd, "wb") as ready:
        ready.write(b"1")
    server = os.getppid()
    try:
        with os.fdopen(go_fd, "rb") as go:
            if go.read(1) != b"1":  # EOF: the server stopped before it listened
                return 0
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
