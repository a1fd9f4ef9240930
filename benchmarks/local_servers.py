"""Spawning, stopping and measuring servers on loopback for the side-by-side benchmarks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_until_healthy(command: list[str], health_url: str, log_path: Path, timeout: float, **popen) -> tuple:
    """Spawn the server and poll its health URL; (process, seconds from spawn to the first 200)."""
    with log_path.open("a") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, **popen)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"{command[0]} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(health_url, timeout=5).status_code == 200:
                return process, time.perf_counter() - started
        time.sleep(0.02)
    stop(process)
    raise SystemExit(f"no answer from {health_url} within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def pss_mb(pid: int) -> float:
    """Proportional set size of the process and all its descendants (Linux /proc), in MiB: pages a
    forked worker shares with its parent count once across the tree, as the machine pays for them
    (summing RSS would count them in every worker)."""
    total_kib, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, StopIteration, ValueError):
            with open(f"/proc/{current}/smaps_rollup", encoding="ascii") as fh:
                total_kib += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total_kib / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]
