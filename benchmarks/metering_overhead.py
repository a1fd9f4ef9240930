"""What metering and the audit trail cost a mutation: `POST /api/datasets/{d}/items` with `EDNA_METERING`
false (the baseline) and true, each on a fresh server and data dir, measured in the same run.

Every upload request is metered (two counters) and audited (one JSONL line written before the answer),
so this is the worst case per request. The runs alternate (off, on, on, off, ...) so drift in the
machine's speed falls on both sides. Goal: metering costs at most 5 % of the throughput.

    .venv/bin/python benchmarks/metering_overhead.py [--requests 3000] [--clients 50] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from item_requests import load, serve_bench_tenant

GOAL = 0.05  # at most 5 % fewer requests per second with metering on
WARM_UP = 200  # requests on each fresh server before it is measured (threads, imports, SQLite pages)
UPLOAD = {"content_type": "image/png", "size": 1234}


@contextlib.contextmanager
def environment(**changes: str) -> Iterator[None]:
    """The server subprocess inherits these settings."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def one_run(metering: bool, count: int, clients: int, cap: float) -> dict:
    """A fresh data dir and server with metering on or off, warmed up, then `count` upload requests."""
    settings = {
        "EDNA_METERING": "true" if metering else "false",
        # both runs do the same quota work; a per-minute limit must not refuse the load itself
        "EDNA_QUOTA_REQUESTS_PER_MINUTE": str(10**9),
    }
    with tempfile.TemporaryDirectory() as tmp, environment(**settings):
        data_dir = Path(tmp)
        proc, base, token, dataset_id = serve_bench_tenant(data_dir)
        try:
            path = f"/api/datasets/{dataset_id}/items"
            load(base, path, UPLOAD, token, WARM_UP, clients, cap)
            result = load(base, path, UPLOAD, token, count, clients, cap)
            if metering:  # the trail holds every request: the cost measured is the real one
                lines = sum(len(f.read_bytes().splitlines()) for f in (data_dir / "audit").rglob("*.jsonl"))
                result["audited"] = lines
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each setting, alternated")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    order = [False, True, True, False] * args.repeats
    order = order[: 2 * args.repeats]  # off, on, on, off, off, on, ...
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for metering in order:
        runs[metering].append(one_run(metering, args.requests, args.clients, args.max_seconds))

    print(f"{args.clients} concurrent clients, {args.requests} upload requests per run, local adapters")
    print(f"order of runs: {', '.join('on' if m else 'off' for m in order)}")
    print(f"{'EDNA_METERING':14} {'run':>3} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for metering, results in runs.items():
        for n, r in enumerate(results, 1):
            figures = f"{r['requests']:8d} {r['errors']:6d} {r['rps']:8.0f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}"
            print(f"{'true' if metering else 'false':14} {n:>3} {figures}")
    summary = {
        metering: {name: statistics.mean(r[name] for r in results) for name in ("rps", "p50_ms", "p95_ms")}
        for metering, results in runs.items()
    }
    off, on = summary[False], summary[True]
    for label, s in (("false (mean)", off), ("true (mean)", on)):
        print(f"{label:14} {'':>3} {'':>8} {'':>6} {s['rps']:8.0f} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f}")
    audited = [r["audited"] for r in runs[True]]
    expected = args.requests + WARM_UP + 1  # and the dataset
    print(f"audit lines per metered run: {audited} (expected {expected} when no request was cut by the time cap)")
    cost = 1 - on["rps"] / off["rps"]
    print(
        f"ratio on/off: throughput {on['rps'] / off['rps']:.3f}x, metering costs {cost:.1%} of it "
        f"(goal <= {GOAL:.0%}); p50 {on['p50_ms'] / off['p50_ms']:.2f}x, p95 {on['p95_ms'] / off['p95_ms']:.2f}x"
    )


if __name__ == "__main__":
    main()
