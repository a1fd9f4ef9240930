"""Real Edna servers: `python -m service run` in its own process group, over either blob store, killed for real."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from service.client import EdnaClient

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30  # seconds for a server to print its address (a bound, not a measurement)


def cli(
    data_dir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """One operator command (`users add`, `reindex`, ...) over the data dir, as a subprocess."""
    command = [sys.executable, "-m", "service", args[0], *args[1:], "--data-dir", str(data_dir)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=check, env=_env(env))


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDNA_")}
    return {**env, "EDNA_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **(extra or {})}


class Server:
    """`python -m service run --no-demo` (the production server: worker processes and a runner) as a
    session leader: SIGKILL of its group takes them and the job processes too. `flags`: more of `run`'s."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.env = env or {}
        self.flags = flags
        self.log = data_dir.parent / f"{data_dir.name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def start(self) -> Server:
        with open(self.log, "a") as log:
            log.write(f"--- start {time.time():.3f}\n")
        offset = self.log.stat().st_size  # this start's lines only: the log outlives restarts
        command = [sys.executable, "-m", "service", "run", "--port", "0", "--data-dir", str(self.data_dir), "--no-demo"]
        command += self.flags
        out = open(self.log, "a")  # noqa: SIM115 (the child keeps writing to it)
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=_env(self.env), start_new_session=True
        )
        out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.log.read_bytes()[offset:].decode(errors="replace").splitlines():
                if "Edna is running on " in line:
                    self.base_url = line.split("running on ")[1].split()[0]
                    return self
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"no address after {START_TIMEOUT} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and its job workers), then wait until none is left."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # a session leader's pid is its group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.05)
        raise AssertionError(f"processes of group {pgid} survived SIGKILL")

    def stop(self) -> None:
        """A clean stop (SIGTERM to the server alone, as Ctrl-C would); SIGKILL if it does not go."""
        if self.proc is None:
            return
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.kill()

    def client(self, user: str, password: str) -> EdnaClient:
        client = EdnaClient(self.base_url, timeout=20)
        client.login(user, password)
        return client

    def health(self) -> requests.Response:
        return requests.get(self.base_url + "/api/health", timeout=10)


def group_alive(pgid: int) -> bool:
    """True while any process (not a zombie) of the group exists."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@contextlib.contextmanager
def server_over(data_dir: Path) -> Iterator[Server]:
    """A started server that is always killed at the end, whatever the test did."""
    server = Server(data_dir).start()
    try:
        yield server
    finally:
        server.kill()


def add_user(data_dir: Path, user: str = "ed", tenant: str = "acme", role: str = "admin") -> tuple[str, str]:
    password = f"{user}-secret-password"
    cli(data_dir, "users", "add", user, "--tenant", tenant, "--role", role, "--password", password)
    return user, password
