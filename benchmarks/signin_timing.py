"""Sign-in answer time: right password, wrong password, unknown user (must not differ measurably).

Starts a real `python -m service run` (local identity, temporary data dir) with the sign-in
throttle raised out of reach (it would answer the wrong passwords with a fast 429 after five),
adds one user the way an operator does, then signs in sequentially, interleaving the three kinds
so drift in the machine's load falls on all of them alike. Prints median and p95 per kind and the
ratios of the medians to the right password's. The baseline from the same run is `GET /api/health`.

    .venv/bin/python benchmarks/signin_timing.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from item_requests import start_server  # noqa: E402

from service.adapters.identity.local import LocalUserStore  # noqa: E402

UNTHROTTLED = {
    "EDNA_SIGNIN_MAX_FAILURES_PER_USER": "1000000",
    "EDNA_SIGNIN_MAX_FAILURES_PER_ADDRESS": "1000000",
    "EDNA_METERING": "false",
}


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        LocalUserStore(data_dir / "identity.db").add("timed", "bench", "viewer", "the right password")
        proc, base = start_server(data_dir, UNTHROTTLED)
        try:
            session = requests.Session()
            kinds = {
                "right password": {"username": "timed", "password": "the right password"},
                "wrong password": {"username": "timed", "password": "a wrong password!!"},
                "unknown user": {"username": "nobody-here", "password": "the right password"},
            }
            expected = {"right password": 200, "wrong password": 401, "unknown user": 401}
            times: dict[str, list[float]] = {kind: [] for kind in kinds}
            health: list[float] = []
            for body in kinds.values():  # warm-up: first scrypt, connections, imports
                session.post(base + "/api/auth/token", json=body, timeout=30)
            for _ in range(args.rounds):
                for kind, body in kinds.items():
                    started = time.perf_counter()
                    resp = session.post(base + "/api/auth/token", json=body, timeout=30)
                    times[kind].append(time.perf_counter() - started)
                    if resp.status_code != expected[kind]:
                        raise SystemExit(f"{kind}: answered {resp.status_code}, expected {expected[kind]}")
                started = time.perf_counter()
                session.get(base + "/api/health", timeout=30)
                health.append(time.perf_counter() - started)
        finally:
            proc.kill()
            proc.wait()
    right = statistics.median(times["right password"])
    print(f"sign-in answer time, {args.rounds} each, interleaved, one client")
    print(f"{'kind':<16} {'median ms':>10} {'p95 ms':>8} {'median / right':>15}")
    for kind, values in times.items():
        median = statistics.median(values)
        print(f"{kind:<16} {median * 1000:>10.1f} {p95(values) * 1000:>8.1f} {median / right:>15.3f}")
    print(f"{'GET /api/health':<16} {statistics.median(health) * 1000:>10.1f} {p95(health) * 1000:>8.1f}   (baseline)")
    wrong = statistics.median(times["wrong password"])
    print(f"wrong/right median ratio: {wrong / right:.3f}")
    # what enumeration would need: an unknown name answered faster or slower than a known one
    print(f"unknown/wrong median ratio: {statistics.median(times['unknown user']) / wrong:.3f}")


if __name__ == "__main__":
    main()
