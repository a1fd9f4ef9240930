"""Dataset export: items/s and peak RSS of `Exporter.stream` for csv, jsonl and coco at 100k items.

The parent fills a SqliteSearchIndex in a temporary directory with `--items` available items of
one dataset (plus 1% pending and 0.5% tombstoned ones the export must skip) with `upsert_many`,
writes `dataset.json` and the annotation sidecars (3 boxes) of ~1% of the items to a
LocalBlobStore. The items' objects are not written: the export only signs their download URLs.

Each format then runs in a fresh subprocess of this script (`--child FORMAT`) that builds the
Exporter as the service does, streams the export to a file, and reports its peak RSS
(`getrusage(RUSAGE_SELF).ru_maxrss`, KiB on Linux). The baseline, measured in the same run: a
subprocess that only imports the service modules, opens the store and the index and reads the
dataset (`--child baseline`); "added" is what the export adds over it. The fill is a subprocess
too, and the parent reads the files back (rows, images, annotations) only after every child ran:
on Linux a child's ru_maxrss starts from the RSS of the process that spawned it, so a grown parent
would inflate it. VmHWM (/proc/self/status) is printed beside it as a cross-check. The goal
printed: peak RSS <= 100 MB.

With `--json`, stdout is one JSON object: each child's result (seconds, bytes, maxrss_kib,
vmhwm_kib) and the goal.

    .venv/bin/python benchmarks/export.py [--items 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TENANT = "bench"
GOAL_MB = 100.0
FORMATS = ["csv", "jsonl", "coco"]
LABELS = ["cat", "dog", "bird", "car", "truck", "person", "bicycle", "boat", "horse", "plane"]
CHUNK = 10_000


def open_service(data_dir: Path):
    """The pieces the export route uses, built as Edna.build builds them (local adapters)."""
    from service.adapters.blobstore.local import LocalBlobStore
    from service.adapters.searchindex.sqlite import SqliteSearchIndex
    from service.adapters.vectorindex.local import LocalVectorIndex
    from service.domain.export import Exporter
    from service.domain.indexing import Indexer
    from service.domain.items import ItemService, UploadLimits
    from service.settings import Config

    config = Config()
    blobs = LocalBlobStore(data_dir / "blobs")
    index = SqliteSearchIndex(data_dir / "index.db")
    limits = UploadLimits(
        multipart_threshold=config.multipart_threshold,
        part_size=config.multipart_part_size,
        max_bytes=config.max_upload_bytes,
        upload_ttl=config.upload_url_ttl_seconds,
        download_ttl=config.download_url_ttl_seconds,
    )
    items = ItemService(blobs, index, Indexer(blobs, index), limits, LocalVectorIndex(data_dir / "vectors"))
    return blobs, index, Exporter(blobs, index, items)


def child(fmt: str, data_dir: Path, dataset_id: str, out: Path, max_seconds: float) -> None:
    """Run one export (or only the set-up, for the baseline) and print its figures as JSON."""
    from service.domain.datasets import DatasetCatalog

    blobs, index, exporter = open_service(data_dir)
    dataset = DatasetCatalog(blobs, index, exporter.items.vectors).get(TENANT, dataset_id)
    index.stats(TENANT, dataset_id)
    result = {"format": fmt, "seconds": 0.0, "bytes": 0, "stopped_early": False}
    if fmt != "baseline":
        deadline = time.monotonic() + max_seconds
        started = time.perf_counter()
        with open(out, "w", encoding="utf-8") as fh:
            for chunk in exporter.stream(TENANT, dataset, fmt):
                fh.write(chunk)
                result["bytes"] += len(chunk)
                if time.monotonic() > deadline:
                    result["stopped_early"] = True
                    break
        result["seconds"] = time.perf_counter() - started
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["vmhwm_kib"] = vm_hwm_kib()
    print(json.dumps(result))


def vm_hwm_kib() -> int:
    """This process's own peak RSS (VmHWM; Linux): unlike ru_maxrss, it never carries the parent's
    peak over an exec (the kernel keeps the larger of the two in ru_maxrss), hence the check."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def fill(data_dir: Path, items: int, seed: int) -> tuple[str, int, int]:
    """The dataset record, its items in the index and 1% annotation sidecars; returns
    (dataset id, available items, annotation boxes)."""
    from service.adapters.blobstore.local import LocalBlobStore
    from service.adapters.searchindex import AVAILABLE, PENDING, ItemRecord
    from service.adapters.searchindex.sqlite import DELETED, SqliteSearchIndex
    from service.domain.datasets import Dataset
    from service.vocabulary import layout
    from service.vocabulary.ids import new_id

    rng = random.Random(seed)
    blobs = LocalBlobStore(data_dir / "blobs")
    index = SqliteSearchIndex(data_dir / "index.db")
    now = time.time()
    dataset = Dataset(new_id(), "street scenes", "export benchmark", LABELS, "bench", "", "")
    blobs.put_bytes(layout.dataset_record(TENANT, dataset.id), dataset.record(), "application/json")
    available = boxes = made = 0
    while available < items:
        chunk = []
        for _ in range(CHUNK):
            if available >= items:
                break
            made += 1
            roll = rng.random()
            status = AVAILABLE if roll < 0.985 else PENDING if roll < 0.995 else DELETED
            annotated = status == AVAILABLE and rng.random() < 0.01
            record = ItemRecord(
                tenant=TENANT,
                dataset_id=dataset.id,
                item_id=new_id(),
                filename=f"img-{made:06d}.png",
                content_type="image/png",
                size=rng.randrange(20_000, 5_000_000),
                status=status,
                created_at=now,
                created_by="bench",
                label=None if rng.random() < 0.2 else rng.choice(LABELS),
                tags={"split": rng.choice(["train", "val", "test"]), "source": f"cam{rng.randrange(1, 9):02d}"},
                etag=f"{rng.getrandbits(128):032x}",
                updated_at=now,
                width=1920,
                height=1080,
                thumbnail=True,
                annotations=3 if annotated else 0,
                observed_at=now,
            )
            if annotated:
                document = {
                    "version": 1,
                    "boxes": [
                        {"label": rng.choice(LABELS), "x": 10.0 * b, "y": 20.0, "w": 100.0, "h": 80.5} for b in range(3)
                    ],
                    "updated_by": "bench",
                    "updated_at": "2025-01-01T00:00:00Z",
                }
                key = layout.annotations_record(TENANT, dataset.id, record.item_id)
                blobs.put_bytes(key, json.dumps(document).encode(), "application/json")
                boxes += 3
            available += status == AVAILABLE
            chunk.append(record)
        index.upsert_many(chunk)
    return dataset.id, available, boxes


def run_child(fmt: str, data_dir: Path, dataset_id: str, out: Path, max_seconds: float, extra=()) -> dict:
    """One fresh `python export.py --child ...`; its last stdout line is its JSON result."""
    cmd = [sys.executable, __file__, "--child", fmt, "--data-dir", str(data_dir), "--dataset", dataset_id]
    cmd += ["--out", str(out), "--max-seconds", str(max_seconds), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=max_seconds + 120)
    if done.returncode != 0:
        raise SystemExit(f"{fmt} child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(fmt: str, out: Path) -> tuple[int, str]:
    """Items in the file and what else it holds (annotation boxes), read back in the parent."""
    if fmt == "csv":
        import csv

        with open(out, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return len(rows), f"{len(rows):,} rows, {sum(len(json.loads(r['boxes'])) for r in rows if r['boxes']):,} boxes"
    if fmt == "jsonl":
        with open(out, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        return len(rows), f"{len(rows):,} rows, {sum(len(r['boxes']) for r in rows):,} boxes"
    with open(out, encoding="utf-8") as fh:
        coco = json.load(fh)
    images, boxes, categories = len(coco["images"]), len(coco["annotations"]), len(coco["categories"])
    return images, f"{images:,} images, {boxes:,} boxes, {categories} categories"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="available items in the exported dataset")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="per export; stops early with a warning")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=[*FORMATS, "baseline", "fill"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, no table")
    args = parser.parse_args()
    if args.child == "fill":
        started = time.perf_counter()
        dataset_id, available, boxes = fill(args.data_dir, args.items, args.seed)
        print(
            json.dumps(
                {
                    "dataset": dataset_id,
                    "available": available,
                    "boxes": boxes,
                    "seconds": time.perf_counter() - started,
                }
            )
        )
        return
    if args.child:
        child(args.child, args.data_dir, args.dataset, args.out, args.max_seconds)
        return

    # The parent stays small until every child has run: a child's ru_maxrss starts from the
    # RSS of the process it was spawned from. So the fill is a child too, and the checks come last.
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        filled = run_child("fill", data_dir, "-", Path(tmp) / "none", args.max_seconds,
                           ("--items", str(args.items), "--seed", str(args.seed)))  # fmt: skip
        dataset_id, available, boxes = filled["dataset"], filled["available"], filled["boxes"]
        results = {"baseline": run_child("baseline", data_dir, dataset_id, Path(tmp) / "none", args.max_seconds)}
        for fmt in FORMATS:
            results[fmt] = run_child(fmt, data_dir, dataset_id, Path(tmp) / f"export.{fmt}", args.max_seconds)
        contents = {}
        for fmt in FORMATS:
            if results[fmt]["stopped_early"]:
                print(f"WARNING: {fmt} export passed --max-seconds; stopped early", file=sys.stderr)
                contents[fmt] = (0, "stopped early: not checked")
            else:
                contents[fmt] = check(fmt, Path(tmp) / f"export.{fmt}")

    if args.json:
        print(json.dumps({"goal_mb": GOAL_MB, "available": available, "boxes": boxes, "runs": results}))
        return
    base_mb = results["baseline"]["maxrss_kib"] / 1024
    print(
        f"Exporter.stream of one dataset: {available:,} available items (+ pending and tombstoned ones it skips), "
        f"{boxes // 3:,} with an annotations sidecar ({boxes:,} boxes); "
        f"index filled in {filled['seconds']:.1f} s (not timed); each row a fresh subprocess"
    )
    head = f"{'seconds':>8} {'items/s':>8} {'MB out':>7} {'peak RSS MB':>12} {'added MB':>9} {'x baseline':>10}"
    print(f"{'run':34} {head} {'VmHWM MB':>9}")
    base_hwm = results["baseline"]["vmhwm_kib"] / 1024
    blank = f"{'-':>8} {'-':>8} {'-':>7}"
    print(f"{'imports + open index (baseline)':34} {blank} {base_mb:12.1f} {'-':>9} {'1.0x':>10} {base_hwm:9.1f}")
    worst = base_mb
    for fmt in FORMATS:
        r = results[fmt]
        mb = r["maxrss_kib"] / 1024
        worst = max(worst, mb)
        rate = contents[fmt][0] / r["seconds"] if r["seconds"] else 0.0
        figures = f"{r['seconds']:8.2f} {rate:8.0f} {r['bytes'] / 1e6:7.1f} {mb:12.1f} {mb - base_mb:9.1f}"
        print(f"{'export ' + fmt:34} {figures} {mb / base_mb:9.2f}x {r['vmhwm_kib'] / 1024:9.1f}")
    for fmt in FORMATS:
        print(f"  {fmt}: {contents[fmt][1]}")
    verdict = "ok" if worst <= GOAL_MB else "MISS"
    print(f"goal: peak RSS <= {GOAL_MB:.0f} MB per export: worst {worst:.1f} MB -> {verdict}")
    print(
        f"reproduce: .venv/bin/python benchmarks/export.py --items {args.items} "
        f"--max-seconds {args.max_seconds:g} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
