"""Upload-request throughput: `POST /api/datasets/{d}/items` under 50 concurrent clients.

Starts a real `python -m service run` (local adapters, temporary data dir) on a loopback port,
then drives it with a fixed number of requests and a time cap. The baseline, measured in the
same run with the same clients, is `GET /api/health` (no token, no storage): the ratio shows
what signing, verifying and recording an upload costs over the bare HTTP round trip.

    .venv/bin/python benchmarks/item_requests.py [--requests 3000] [--clients 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def start_server(data_dir: Path, env: dict[str, str] | None = None, demo: bool = False) -> tuple[subprocess.Popen, str]:
    """`python -m service run`, without the demo unless asked (`env`: extra environment); the process and its URL."""
    flags = [] if demo else ["--no-demo"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--port", "0", *flags, "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    if "running on" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split("running on ")[1].split()[0]


def load(base: str, path: str, body: dict | None, token: str | None, count: int, clients: int, cap: float) -> dict:
    """`count` requests from `clients` threads (each with its own connection), stopping at `cap` seconds."""
    local = threading.local()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + cap

    def one(n: int) -> tuple[float, int] | None:
        if time.monotonic() > deadline:
            return None
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        started = time.perf_counter()
        if body is None:
            resp = session.get(base + path, headers=headers, timeout=30)
        else:
            resp = session.post(base + path, json={**body, "filename": f"f-{n}.png"}, headers=headers, timeout=30)
        return time.perf_counter() - started, resp.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for r in pool.map(one, range(count)) if r is not None]
    elapsed = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    return {
        "requests": len(results),
        "errors": sum(1 for r in results if r[1] >= 400),
        "rps": len(results) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


def serve_bench_tenant(data_dir: Path) -> tuple[subprocess.Popen, str, str, str]:
    """A server on `data_dir` with one editor and one dataset: (process, base URL, token, dataset id)."""
    user = ["bench", "--tenant", "bench", "--role", "editor", "--password", "bench-password"]
    subprocess.run(
        [sys.executable, "-m", "service", "users", "add", *user, "--data-dir", str(data_dir)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    proc, base = start_server(data_dir)
    try:
        login = {"username": "bench", "password": "bench-password"}
        token = requests.post(base + "/api/auth/token", json=login, timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        dataset = requests.post(base + "/api/datasets", json={"name": "bench"}, headers=auth, timeout=10).json()
    except BaseException:
        proc.terminate()
        raise
    return proc, base, token, dataset["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        proc, base, token, dataset_id = serve_bench_tenant(Path(tmp))
        try:
            upload = {"content_type": "image/png", "size": 1234}
            runs = {
                "GET /api/health (baseline)": load(
                    base, "/api/health", None, None, args.requests, args.clients, args.max_seconds
                ),
                "POST /api/datasets/{d}/items": load(
                    base,
                    f"/api/datasets/{dataset_id}/items",
                    upload,
                    token,
                    args.requests,
                    args.clients,
                    args.max_seconds,
                ),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    print(f"{args.clients} concurrent clients, up to {args.requests} requests each run, local adapters")
    print(f"{'route':34} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, r in runs.items():
        figures = f"{r['requests']:8d} {r['errors']:6d} {r['rps']:8.0f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}"
        print(f"{name:34} {figures}")
    base_run, items_run = runs.values()
    print(f"ratio items/baseline: throughput {items_run['rps'] / base_run['rps']:.2f}x, "
          f"p50 {items_run['p50_ms'] / base_run['p50_ms']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
