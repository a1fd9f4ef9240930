"""Deleting a dataset of N items on the local store: the request's time (202) and the background
work's cost per item, at each size; the ratio per item against the smallest size (flat means ~1.0).

For each `--sizes` N, a fresh data dir gets one dataset of N generated PNG items (benchmarks/grid_data.py:
object, WebP thumbnail and index record each, as an upload leaves them) plus a small dataset that must
survive. Then Edna is built over it as `python -m service run` builds it (create_app, the local job
runner: the deletion runs on the server's thread) and the deletion is started through the same call
as DELETE /api/datasets/{id}, timed, then followed to its end. The figures: the request's ms, the
work's seconds, microseconds per item, the ratio per item to the first size, and the peak RSS growth
of this process during the work (it never holds the dataset). Never asserted.

    .venv/bin/python benchmarks/dataset_delete.py [--sizes 1000 10000 100000] [--max-seconds 1800]
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bounds import Deadline
from grid_data import OWNER, TENANT, fill, open_store, pictures

from service import create_app
from service.adapters.vectorindex.local import LocalVectorIndex
from service.domain.datasets import DatasetCatalog
from service.settings import Config
from service.vocabulary import layout
from service.vocabulary.roles import Principal

WORKERS = 4  # threads writing the generated objects (each write fsyncs)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(size: int, root: Path, deadline: Deadline) -> dict | None:
    data_dir = root / f"n{size}"
    blobs, index = open_store(data_dir)
    catalog = DatasetCatalog(blobs, index, LocalVectorIndex(data_dir / "vectors"))
    owner = Principal(OWNER, TENANT, ("admin",))
    doomed = catalog.create(owner, "doomed")
    kept = catalog.create(owner, "kept")
    started = time.perf_counter()
    fill(blobs, index, doomed.id, size, pictures(), random.Random(size), WORKERS, deadline)
    fill(blobs, index, kept.id, 10, pictures(), random.Random(1), WORKERS, deadline)
    if index.stats(TENANT, doomed.id).item_count != size:
        return None
    print(f"  prepared {size:,} items in {time.perf_counter() - started:.1f} s", flush=True)
    app = create_app(Config.from_env(data_dir=data_dir))
    state = app.extensions["edna"]
    try:
        rss_before = peak_rss_mb()
        began = time.perf_counter()
        state.deletions.start(owner, doomed.id)
        request_ms = (time.perf_counter() - began) * 1000
        while (deletion := state.deletions.get(TENANT, doomed.id))["status"] not in ("succeeded", "failed"):
            if deadline.passed():
                return None
            time.sleep(0.02)
        seconds = time.perf_counter() - began
    finally:
        state.close()
    left = sum(1 for _ in blobs.iter_objects(layout.dataset_prefix(TENANT, doomed.id)))
    left += sum(1 for _ in blobs.iter_objects(layout.thumbnails_prefix(TENANT, doomed.id)))
    kept_items = index.stats(TENANT, kept.id).item_count
    if deletion["status"] != "succeeded" or left or kept_items != 10:
        raise SystemExit(f"deletion of {size} went wrong: {deletion}, {left} objects left, kept {kept_items}")
    return {
        "items": size,
        "request_ms": request_ms,
        "seconds": seconds,
        "us_per_item": seconds / size * 1e6,
        "rss_growth_mb": peak_rss_mb() - rss_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    deadline = Deadline(args.max_seconds)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edna-delete-") as tmp:
        for size in args.sizes:
            row = measure(size, Path(tmp), deadline)
            if row is None:
                break
            rows.append(row)
    if not rows:
        raise SystemExit("nothing measured within --max-seconds")
    base = rows[0]["us_per_item"]
    print(f"\n{'items':>9} {'request':>10} {'work':>9} {'per item':>10} {'vs first':>9} {'peak RSS +':>11}")
    for r in rows:
        print(
            f"{r['items']:>9,} {r['request_ms']:>8.1f}ms {r['seconds']:>8.2f}s {r['us_per_item']:>8.0f}us"
            f" {r['us_per_item'] / base:>8.2f}x {r['rss_growth_mb']:>9.1f}MB"
        )


if __name__ == "__main__":
    main()
