""" "Select all N matches -> label": one request that relabels every match server-side, against the way a
client had to do it before (page the listing, POST /labels in chunks of 1,000), on the same items.

Prepares `--items` generated PNG items (benchmarks/grid_data.py: objects, thumbnails and index records
written through the project's code; reusable with `--data-dir`), starts `python -m service run
--no-demo` over them, signs in an editor added by the CLI, then relabels every item twice:

- baseline: the listing paged 1,000 at a time, each page's ids sent to POST /labels (class "a");
- bulk: POST /bulk/query {"query": {}, "action": "label", "label": "b", "expected": N}, polled to its end.

Prints items/s of each, the ratio bulk/baseline, and the server's peak RSS during each (VmHWM of the
server process, its peak reset through /proc/PID/clear_refs before each phase). Never asserted.

    .venv/bin/python benchmarks/bulk_label_by_query.py [--items 100000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import requests
from bounds import Deadline
from grid_100k import ROOT, edna_server
from grid_data import TENANT, open_store, prepare

from service.adapters.vectorindex.local import LocalVectorIndex
from service.domain.datasets import DatasetCatalog
from tests.bombs import memory_mb

USER = f"bulk-editor-{secrets.token_hex(3)}"  # a new one per run: a reused data dir keeps the old ones
CHUNK = 1_000


def add_editor(data_dir: Path, password: str) -> None:
    command = [sys.executable, "-m", "service", "users", "add", USER, "--tenant", TENANT, "--role", "editor"]
    done = subprocess.run(
        [*command, "--password", password, "--data-dir", str(data_dir)], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"users add failed: {done.stderr.strip()}")


def give_classes(data_dir: Path, dataset_id: str) -> None:
    blobs, index = open_store(data_dir)
    DatasetCatalog(blobs, index, LocalVectorIndex(data_dir / "vectors")).update(
        TENANT, dataset_id, {"label_classes": ["a", "b"]}
    )


def server_pid() -> int:
    """The `python -m service run` this process started (edna_server's child)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if int(fields.get("PPid", "0")) == os.getpid() and b"service" in cmdline and b"run" in cmdline:
            return int(status.parent.name)
    raise SystemExit("the server process was not found")


def reset_peak(pid: int) -> None:
    """Start the process's VmHWM again from its current RSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def by_client(session: requests.Session, base_url: str, dataset_id: str, deadline: Deadline) -> int:
    """The listing paged, each page relabelled through POST /labels; returns items labelled."""
    labelled, cursor = 0, None
    while not deadline.passed():
        params = {"limit": CHUNK, **({"cursor": cursor} if cursor else {})}
        page = session.get(f"{base_url}/api/datasets/{dataset_id}/items", params=params, timeout=120).json()
        entries = [{"item_id": i["id"], "label": "a"} for i in page["items"]]
        results = session.post(
            f"{base_url}/api/datasets/{dataset_id}/labels", json={"labels": entries}, timeout=600
        ).json()["results"]
        labelled += sum(r["status"] == 200 for r in results)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return labelled


def by_query(session: requests.Session, base_url: str, dataset_id: str, expected: int, deadline: Deadline) -> dict:
    """One bulk run over every item, polled until it ends; returns its record."""
    path = f"{base_url}/api/datasets/{dataset_id}/bulk/query"
    change = {"query": {}, "action": "label", "label": "b"}
    counted = session.post(path, json={**change, "dry_run": True}, timeout=120).json()["matched"]
    run = session.post(path, json={**change, "expected": counted}, timeout=600).json()
    if "id" not in run:
        raise SystemExit(f"the bulk run was refused: {run}")
    while run["status"] in ("queued", "running") and not deadline.passed():
        time.sleep(0.5)
        run = session.get(f"{path}/{run['id']}", timeout=60).json()
    if counted != expected:
        print(f"WARNING: {counted:,} items counted, {expected:,} expected")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the prepared items here")
    parser.add_argument("--workers", type=int, default=16, help="threads writing objects while preparing")
    parser.add_argument("--max-seconds", type=float, default=3000.0)
    args = parser.parse_args()
    deadline = Deadline(args.max_seconds)
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        print(f"preparing {args.items:,} items in {data_dir} ...", flush=True)
        dataset_id = prepare(data_dir, [args.items], args.workers, deadline)[args.items]
        give_classes(data_dir, dataset_id)
        password = secrets.token_urlsafe(12)
        add_editor(data_dir, password)
        with edna_server(data_dir, Path(tmp) / "server.log") as base_url:
            session = requests.Session()
            login = {"username": USER, "password": password}
            token = session.post(base_url + "/api/auth/token", json=login, timeout=30).json()["access_token"]
            session.headers["Authorization"] = f"Bearer {token}"
            pid = server_pid()
            reset_peak(pid)
            started = time.perf_counter()
            labelled = by_client(session, base_url, dataset_id, deadline)
            baseline = labelled / (time.perf_counter() - started)
            print(
                f"baseline (page + POST /labels x{CHUNK}): {labelled:,} items, {baseline:,.0f} items/s, "
                f"server peak RSS {memory_mb(pid)['VmHWM']:,.0f} MB",
                flush=True,
            )
            reset_peak(pid)
            started = time.perf_counter()
            run = by_query(session, base_url, dataset_id, args.items, deadline)
            spent = time.perf_counter() - started
            bulk = run["progress"]["done"] / spent
            print(
                f"bulk by query: {run['status']}, {run['progress']['done']:,} of {run['matched']:,} items "
                f"({run['failed']} failed), {bulk:,.0f} items/s, server peak RSS {memory_mb(pid)['VmHWM']:,.0f} MB"
            )
            print(f"ratio bulk/baseline: {bulk / baseline:.2f}x")


if __name__ == "__main__":
    main()
