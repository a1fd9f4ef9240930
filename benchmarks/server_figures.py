"""What a user of a real server feels with 10,000 items in one dataset: start, memory, listing,
labelling, filtering and export, over HTTP against `python -m service run --no-demo`.

The data dir is prepared with benchmarks/grid_data.py (each item's PNG object, its WebP thumbnail
and its index record, as an upload leaves them); then 60% of the items get a label (the object's
`label` tag and the record, as PUT .../label writes them) so that a label filter has something to
find. A labeler is added with `python -m service users add`. Measured, with `requests`:

- cold start: spawn -> first 200 from /api/health, median of `--starts` starts (the last one stays up);
- idle RSS: VmRSS of the server (and any children) after the start and a few requests;
- listing every item in pages of 100 (`?limit=100&cursor=...`), total time;
- `PUT .../items/{i}/label` on random items, `--label-calls` sequential calls: p50/p95;
- one filtered page `?label=...&limit=100`, `--filter-calls` calls on random labels: p50/p95;
- `GET .../export?format=csv` of every item, streamed and dropped: total time.

The baseline, measured in the same run on the same server: `GET /api/health` p50/p95 (no token,
no storage). Times are printed, never asserted (machines are shared). With `--json`, stdout is one
JSON object (benchmarks/report.py reads it); preparation and progress go to stderr.

    .venv/bin/python benchmarks/server_figures.py [--items 10000] [--starts 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import requests
from bounds import Deadline
from grid_data import TENANT, open_store, prepare

from service.adapters.searchindex import ItemQuery
from service.vocabulary import layout

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["cat", "dog", "bird", "car", "truck", "person", "bicycle", "boat", "horse", "plane"]
LABELLED = 0.6
USER = f"figures-labeler-{secrets.token_hex(3)}"
GOALS = {  # figure -> (the most it may be, unit)
    "cold_start_s": (5.0, "s"),
    "idle_rss_mib": (100.0, "MiB"),
    "list_all_s": (3.0, "s"),
    "label_p50_ms": (10.0, "ms"),
    "label_p95_ms": (25.0, "ms"),
    "filter_p95_ms": (50.0, "ms"),
    "export_csv_s": (2.0, "s"),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def label_items(data_dir: Path, dataset_id: str, seed: int) -> int:
    """Give LABELLED of the items a label: the object's tag and the index record, as Labeler writes them."""
    blobs, index = open_store(data_dir)
    rng = random.Random(seed)
    records, after = [], None
    while True:
        page = index.search(TENANT, ItemQuery(dataset_id=dataset_id), 5_000, after)
        if not page:
            break
        records += page
        after = page[-1].item_id
    changed = []
    for record in records:
        if record.label is not None or rng.random() >= LABELLED:
            continue
        label = rng.choice(LABELS)
        key = layout.item_object(TENANT, dataset_id, record.item_id, record.filename)
        blobs.put_tags(key, {**blobs.get_tags(key), layout.LABEL_TAG: label})
        now = time.time()
        changed.append(replace(record, label=label, updated_at=now, observed_at=now))
    index.upsert_many(changed)
    return len(changed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_user(data_dir: Path, password: str) -> None:
    """The CLI, as an operator adds a user (a labeler: PUT .../label needs one)."""
    command = [sys.executable, "-m", "service", "users", "add", USER, "--tenant", TENANT, "--role", "labeler"]
    done = subprocess.run(
        [*command, "--password", password, "--data-dir", str(data_dir)], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"users add failed: {done.stderr.strip()}")


def start(data_dir: Path, log_path: Path, timeout: float = 30.0) -> tuple[subprocess.Popen, str, float]:
    """Spawn the server on a free port and poll /api/health; (process, base URL, seconds to the first 200)."""
    port = free_port()
    command = [sys.executable, "-m", "service", "run", "--no-demo", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("a") as out:
        started = time.perf_counter()
        process = subprocess.Popen([*command, "--data-dir", str(data_dir)], cwd=ROOT, stdout=out, stderr=out)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(base + "/api/health", timeout=2).status_code == 200:
                return process, base, time.perf_counter() - started
        time.sleep(0.01)
    stop(process)
    raise SystemExit(f"no /api/health within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def rss_mib(pid: int) -> float:
    """VmRSS of the process and all its descendants (Linux /proc)."""
    total_kib, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, StopIteration):
            with open(f"/proc/{current}/status", encoding="ascii") as fh:
                total_kib += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total_kib / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


def timed(call, count: int, deadline: Deadline) -> tuple[list[float], int]:
    """Latencies (ms) of up to `count` sequential calls and how many did not answer 200."""
    latencies, errors = [], 0
    for n in range(count):
        if deadline.passed():
            break
        started = time.perf_counter()
        status = call(n)
        latencies.append((time.perf_counter() - started) * 1000)
        errors += status != 200
    return latencies, errors


def measure(args, data_dir: Path, dataset_id: str, deadline: Deadline) -> dict:
    """Everything, on `--starts` fresh servers (only the last one serves the requests)."""
    password = secrets.token_urlsafe(12)
    add_user(data_dir, password)
    log_path = data_dir / "server.log"
    starts, process = [], None
    try:
        for _ in range(args.starts):
            if process is not None:
                stop(process)
            process, base, seconds = start(data_dir, log_path)
            starts.append(seconds)
            log(f"  started in {seconds:.2f} s")
        http = requests.Session()
        token = http.post(base + "/api/auth/token", json={"username": USER, "password": password}, timeout=10)
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        items = f"{base}/api/datasets/{dataset_id}/items"
        health, health_errors = timed(
            lambda n: requests.get(base + "/api/health", timeout=10).status_code, 50, deadline
        )
        count = http.get(f"{base}/api/datasets/{dataset_id}", timeout=30).json()["item_count"]
        first = http.get(items, params={"limit": 100}, timeout=30).json()["items"]
        idle_rss = rss_mib(process.pid)
        log(f"  idle RSS {idle_rss:.1f} MiB; listing every item")

        started, ids, cursor, pages = time.perf_counter(), [], None, 0
        while not deadline.passed():
            params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
            page = http.get(items, params=params, timeout=30).json()
            ids += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
        list_all = time.perf_counter() - started

        rng = random.Random(args.seed)
        log(f"  {args.label_calls} labels")
        labels, label_errors = timed(
            lambda n: (
                http.put(f"{items}/{rng.choice(ids)}/label", json={"label": rng.choice(LABELS)}, timeout=30).status_code
            ),
            args.label_calls,
            deadline,
        )
        filters, filter_errors = timed(
            lambda n: http.get(items, params={"label": rng.choice(LABELS), "limit": 100}, timeout=30).status_code,
            args.filter_calls,
            deadline,
        )
        log("  export")
        started, rows, size = time.perf_counter(), 0, 0
        with http.get(
            f"{base}/api/datasets/{dataset_id}/export", params={"format": "csv"}, stream=True, timeout=60
        ) as r:
            export_status = r.status_code
            for chunk in r.iter_content(chunk_size=64 * 1024):
                rows += chunk.count(b"\n")
                size += len(chunk)
        export_csv = time.perf_counter() - started
        after_rss = rss_mib(process.pid)
    finally:
        if process is not None:
            stop(process)
    return {
        "items": count,
        "first_page": len(first),
        "goals": GOALS,
        "cold_start_s": statistics.median(starts),
        "cold_starts_s": starts,
        "idle_rss_mib": idle_rss,
        "rss_after_workload_mib": after_rss,
        "health_p50_ms": statistics.median(health),
        "health_p95_ms": percentile(health, 0.95),
        "health_errors": health_errors,
        "list_all_s": list_all,
        "listed": len(ids),
        "distinct_listed": len(set(ids)),
        "pages": pages,
        "label_calls": len(labels),
        "label_p50_ms": statistics.median(labels) if labels else None,
        "label_p95_ms": percentile(labels, 0.95) if labels else None,
        "label_errors": label_errors,
        "filter_calls": len(filters),
        "filter_p50_ms": statistics.median(filters) if filters else None,
        "filter_p95_ms": percentile(filters, 0.95) if filters else None,
        "filter_errors": filter_errors,
        "export_csv_s": export_csv if export_status == 200 else None,
        "export_status": export_status,
        "export_rows": max(0, rows - 1),  # the header line
        "export_mb": size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="items in the one dataset")
    parser.add_argument("--starts", type=int, default=3, help="server starts timed (the median is the figure)")
    parser.add_argument("--label-calls", type=int, default=200)
    parser.add_argument("--filter-calls", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the prepared data here (default: a temp dir)")
    parser.add_argument("--workers", type=int, default=16, help="threads writing objects while preparing")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop early (with a warning) past this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, no table")
    args = parser.parse_args()
    deadline = Deadline(args.max_seconds)
    with contextlib.ExitStack() as stack:
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            dataset_id = prepare(data_dir, [args.items], args.workers, deadline, args.seed)[args.items]
        labelled = label_items(data_dir, dataset_id, args.seed)
        log(f"  prepared and labelled {labelled:,} items in {time.perf_counter() - started:.1f} s")
        figures = measure(args, data_dir, dataset_id, deadline)
    if args.json:
        print(json.dumps(figures))
    else:
        report(args, figures)


def report(args, f: dict) -> None:
    print(
        f"python -m service run --no-demo, one dataset of {f['items']:,} items ({LABELLED:.0%} labelled); "
        f"baseline GET /api/health p50 {f['health_p50_ms']:.1f} ms, p95 {f['health_p95_ms']:.1f} ms"
    )
    shown = {
        "cold_start_s": f"cold start to healthy (median of {len(f['cold_starts_s'])})",
        "idle_rss_mib": "idle server RSS",
        "list_all_s": f"list all in pages of 100 ({f['pages']} pages, {f['listed']:,} items)",
        "label_p50_ms": f"PUT label p50 ({f['label_calls']} calls, {f['label_errors']} errors)",
        "label_p95_ms": "PUT label p95",
        "filter_p95_ms": f"page by label p95 (p50 {f['filter_p50_ms']:.1f} ms, {f['filter_calls']} calls)",
        "export_csv_s": f"CSV export ({f['export_rows']:,} rows, {f['export_mb']:.1f} MB)",
    }
    for name, text in shown.items():
        goal, unit = GOALS[name]
        value = f[name]
        verdict = "ok" if value is not None and value <= goal else "MISS"
        print(f"  {text:58} {value:9.2f} {unit:3}  goal <= {goal:g} {unit}  {verdict}")
    print(f"  server RSS after all of it: {f['rss_after_workload_mib']:.1f} MiB")
    print(
        f"reproduce: .venv/bin/python benchmarks/server_figures.py --items {args.items} --starts {args.starts} "
        f"--label-calls {args.label_calls} --filter-calls {args.filter_calls} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
