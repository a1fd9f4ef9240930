"""Dataset snapshots: time per item and peak RSS of taking a snapshot at 100k and 1M items, and of
diffing two 1M-item snapshots.

For each size a `fill` subprocess writes a dataset into a fresh LocalBlobStore + SqliteSearchIndex
in a temporary directory: the index rows with `upsert_many`, each item's object as a tiny file
written straight under `objects/` (no metadata sidecar: the snapshot keeps the file by a hard link
either way), and the annotation sidecars of 1% of the items. A `snapshot` subprocess then builds
Snapshots as the service does and takes one, reporting seconds, ru_maxrss and VmHWM. The goal:
memory bounded (peak RSS at 1M within 1.5x of 100k) and time flat per item (1M/100k per-item ratio
near 1). The baseline, measured in the same run, is a subprocess that only imports the service
modules, opens the store and the index and reads the dataset: "added" is what a snapshot adds.

At 1M a `change` subprocess then relabels 1%, re-annotates 0.2%, deletes 0.5% and adds 0.5% new
items, a second snapshot is taken, and a `diff` subprocess walks every page of the diff (limit
1000) and checks it is exactly the changes made.

    .venv/bin/python benchmarks/snapshots.py [--sizes 100000 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TENANT = "bench"
CHUNK = 10_000
LABELS = ["cat", "dog", "bird", "car", "truck", "person", "bicycle", "boat", "horse", "plane"]
RSS_GOAL = 1.5  # peak RSS at the largest size over the smallest
TIME_GOAL = 1.5  # time per item at the largest size over the smallest


def open_store(data_dir: Path):
    from service.adapters.blobstore.local import LocalBlobStore
    from service.adapters.searchindex.sqlite import SqliteSearchIndex
    from service.domain.snapshot_diff import SnapshotDiff
    from service.domain.snapshots import Snapshots

    blobs = LocalBlobStore(data_dir / "blobs")
    index = SqliteSearchIndex(data_dir / "index.db")
    snapshots = Snapshots(blobs, index, 300)
    return blobs, index, snapshots, SnapshotDiff(blobs, index, snapshots)


def vm_hwm_kib() -> int:
    """Peak RSS of this process alone (ru_maxrss may carry the parent's over an exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def figures(started: float, **extra) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {"seconds": time.perf_counter() - started, "maxrss_kib": usage.ru_maxrss, "vmhwm_kib": vm_hwm_kib()}
    print(json.dumps({**result, **extra}))


def write_object(blobs, dataset_id: str, item_id: str, filename: str, data: bytes) -> None:
    from service.vocabulary import layout

    path = blobs.objects / layout.item_object(TENANT, dataset_id, item_id, filename)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)


def annotate(blobs, dataset_id: str, item_id: str, rng: random.Random, version: int) -> None:
    from service.vocabulary import layout

    boxes = [{"label": rng.choice(LABELS), "x": float(rng.randrange(100)), "y": 2.0, "w": 30.0, "h": 40.0}]
    document = {"version": version, "boxes": boxes, "updated_by": "bench", "updated_at": ""}
    blobs.put_bytes(layout.annotations_record(TENANT, dataset_id, item_id), json.dumps(document).encode(), "x/json")


def new_record(dataset_id: str, n: int, rng: random.Random, now: float):
    from service.adapters.searchindex import AVAILABLE, ItemRecord
    from service.vocabulary.ids import new_id

    return ItemRecord(
        tenant=TENANT,
        dataset_id=dataset_id,
        item_id=new_id(),
        filename=f"img-{n:07d}.png",
        content_type="image/png",
        size=rng.randrange(20_000, 5_000_000),
        status=AVAILABLE,
        created_at=now,
        created_by="bench",
        label=None if rng.random() < 0.2 else rng.choice(LABELS),
        tags={"split": rng.choice(["train", "val", "test"]), "source": f"cam{rng.randrange(1, 9):02d}"},
        updated_at=now,
        width=1920,
        height=1080,
        observed_at=now,
    )


def fill(data_dir: Path, items: int, seed: int) -> None:
    from service.domain.datasets import Dataset
    from service.vocabulary import layout
    from service.vocabulary.ids import new_id

    started = time.perf_counter()
    rng = random.Random(seed)
    blobs, index, _, _ = open_store(data_dir)
    dataset = Dataset(new_id(), "street scenes", "snapshot benchmark", LABELS, "bench", "", "")
    blobs.put_bytes(layout.dataset_record(TENANT, dataset.id), dataset.record(), "application/json")
    now = time.time()
    made = 0
    while made < items:
        chunk = []
        for _ in range(min(CHUNK, items - made)):
            made += 1
            record = new_record(dataset.id, made, rng, now)
            if rng.random() < 0.01:
                annotate(blobs, dataset.id, record.item_id, rng, 1)
                record = replace(record, annotations=1)
            write_object(blobs, dataset.id, record.item_id, record.filename, b"x")
            chunk.append(record)
        index.upsert_many(chunk)
    figures(started, dataset_id=dataset.id)


def snapshot(data_dir: Path, dataset_id: str) -> None:
    from service.domain.datasets import DatasetCatalog
    from service.vocabulary.roles import Principal

    blobs, index, snapshots, _ = open_store(data_dir)
    dataset = DatasetCatalog(blobs, index, None).get(TENANT, dataset_id)
    started = time.perf_counter()
    taken = snapshots.create(Principal("bench", TENANT, ("editor",)), dataset, None)
    figures(started, snapshot_id=taken["id"], item_count=taken["item_count"], parts=len(taken["parts"]))


def baseline(data_dir: Path, dataset_id: str) -> None:
    from service.domain.datasets import DatasetCatalog

    started = time.perf_counter()
    blobs, index, _, _ = open_store(data_dir)
    DatasetCatalog(blobs, index, None).get(TENANT, dataset_id)
    index.stats(TENANT, dataset_id)
    figures(started)


def change(data_dir: Path, dataset_id: str, expected_file: Path, seed: int) -> None:
    """Relabel 1%, re-annotate 0.2%, delete 0.5%, add 0.5%; the expected diff goes to `expected_file`."""
    from service.adapters.searchindex import ItemQuery
    from service.vocabulary import layout

    started = time.perf_counter()
    rng = random.Random(seed)
    blobs, index, _, _ = open_store(data_dir)
    expected = {"added": [], "removed": [], "relabelled": [], "reannotated": []}
    after, now, changed = None, time.time() + 1, []
    query = ItemQuery(dataset_id=dataset_id)
    while page := index.search(TENANT, query, 1000, after):
        after = page[-1].item_id
        for record in page:
            roll = rng.random()
            if roll < 0.005:
                index.delete(TENANT, dataset_id, record.item_id, now)
                (blobs.objects / layout.item_object(TENANT, dataset_id, record.item_id, record.filename)).unlink()
                expected["removed"].append(record.item_id)
            elif roll < 0.015:
                label = next(label for label in rng.sample(LABELS, 2) if label != record.label)
                changed.append(replace(record, label=label, observed_at=now))
                expected["relabelled"].append(record.item_id)
            elif roll < 0.017:
                annotate(blobs, dataset_id, record.item_id, rng, 2)
                changed.append(replace(record, annotations=1, observed_at=now))
                expected["reannotated"].append(record.item_id)
    index.upsert_many(changed)
    added = [new_record(dataset_id, 10_000_000 + n, rng, now) for n in range(len(expected["removed"]))]
    for record in added:
        write_object(blobs, dataset_id, record.item_id, record.filename, b"y")
    index.upsert_many(added)
    expected["added"] = sorted(r.item_id for r in added)
    expected_file.write_text(json.dumps(expected))
    figures(started)


def diff(data_dir: Path, dataset_id: str, first: str, second: str, expected_file: Path) -> None:
    _, _, snapshots, differ = open_store(data_dir)
    base = snapshots.get(TENANT, dataset_id, first)
    started = time.perf_counter()
    found = {"added": [], "removed": [], "relabelled": [], "reannotated": []}
    after, pages = None, 0
    while True:
        body, after = differ.page(TENANT, base, second, 1000, after)
        pages += 1
        for key in found:
            found[key] += body[key]
        if after is None:
            break
    expected = json.loads(expected_file.read_text())
    exact = all(sorted(found[k]) == sorted(expected[k]) and found[k] == sorted(found[k]) for k in found)
    figures(started, pages=pages, exact=exact, **{k: len(v) for k, v in found.items()})


def run(*args: str, timeout: float) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mb(kib: int) -> float:
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per subprocess")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["fill", "snapshot", "baseline", "change", "diff"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--snapshots", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    children = {
        "fill": lambda: fill(args.data_dir, args.items, args.seed),
        "snapshot": lambda: snapshot(args.data_dir, args.dataset),
        "baseline": lambda: baseline(args.data_dir, args.dataset),
        "change": lambda: change(args.data_dir, args.dataset, args.expected, args.seed),
        "diff": lambda: diff(args.data_dir, args.dataset, *args.snapshots, args.expected),
    }
    if args.child:
        children[args.child]()
    else:
        compare(args)


def compare(args: argparse.Namespace) -> None:
    results: dict = {"sizes": {}}
    for size in args.sizes:
        work = Path(tempfile.mkdtemp(prefix=f"edna-snapshots-{size}-"))
        try:
            common = ("--data-dir", str(work))
            filled = run("--child", "fill", *common, "--items", str(size), timeout=args.timeout)
            dataset = ("--dataset", filled["dataset_id"])
            base = run("--child", "baseline", *common, *dataset, timeout=args.timeout)
            taken = run("--child", "snapshot", *common, *dataset, timeout=args.timeout)
            entry = {"fill_seconds": filled["seconds"], "baseline": base, "snapshot": taken}
            if size == max(args.sizes):
                expected = work / "expected.json"
                run("--child", "change", *common, *dataset, "--expected", str(expected), timeout=args.timeout)
                second = run("--child", "snapshot", *common, *dataset, timeout=args.timeout)
                ids = ("--snapshots", taken["snapshot_id"], second["snapshot_id"])
                entry["diff"] = run(
                    "--child", "diff", *common, *dataset, *ids, "--expected", str(expected), timeout=args.timeout
                )
            results["sizes"][size] = entry
        finally:
            shutil.rmtree(work, ignore_errors=True)

    small, large = min(args.sizes), max(args.sizes)
    per_item = {s: e["snapshot"]["seconds"] / s for s, e in results["sizes"].items()}
    results["per_item_ratio"] = per_item[large] / per_item[small]
    results["rss_ratio"] = (
        results["sizes"][large]["snapshot"]["vmhwm_kib"] / results["sizes"][small]["snapshot"]["vmhwm_kib"]
    )
    results["goal_met"] = results["per_item_ratio"] <= TIME_GOAL and results["rss_ratio"] <= RSS_GOAL
    if args.json:
        print(json.dumps(results))
    else:
        report(results, per_item, small, large)


def report(results: dict, per_item: dict, small: int, large: int) -> None:
    print(f"cpus: {os.cpu_count()}")
    for size, entry in results["sizes"].items():
        taken, base = entry["snapshot"], entry["baseline"]
        print(
            f"snapshot of {size:>9,} items: {taken['seconds']:7.1f} s ({per_item[size] * 1e6:5.1f} us/item, "
            f"{taken['parts']} parts), peak RSS {mb(taken['vmhwm_kib']):6.1f} MB "
            f"(baseline {mb(base['vmhwm_kib']):5.1f} MB, added {mb(taken['vmhwm_kib'] - base['vmhwm_kib']):5.1f} MB)"
            f"; fill {entry['fill_seconds']:.0f} s"
        )
        if "diff" in entry:
            d = entry["diff"]
            print(
                f"diff of two {size:,}-item snapshots: {d['seconds']:.1f} s in {d['pages']} pages, peak RSS "
                f"{mb(d['vmhwm_kib']):.1f} MB; added {d['added']:,}, removed {d['removed']:,}, relabelled "
                f"{d['relabelled']:,}, reannotated {d['reannotated']:,}; exact: {d['exact']}"
            )
    print(
        f"per-item time {large:,}/{small:,}: {results['per_item_ratio']:.2f} (goal <= {TIME_GOAL}); "
        f"peak RSS ratio: {results['rss_ratio']:.2f} (goal <= {RSS_GOAL}); goal met: {results['goal_met']}"
    )


if __name__ == "__main__":
    main()
