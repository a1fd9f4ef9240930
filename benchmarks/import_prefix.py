"""`import-prefix` at storage speed: items registered per second, against the file system's own rate.

For each N (`--items`, default 10,000 and 100,000), a directory of N small PNGs (a few 8x8 variants;
registering never reads the bytes) is imported into a fresh local store and SQLite index, in this
process, the way `python -m service import-prefix` does it (without the process start). Rows:

- baseline, measured in the same run: the bare hard links of the same files into a fresh directory
  (mkdir + link per object, the floor of the local store's layout);
- register N: `import_source`, from the listing to every item in the index;
- a second run of the same import: nothing imported, the ledger read and the source listed;
- previews: `make_previews` of `--preview-items` of those images (64x64 PNGs) on 1 thread and on one
  per core, thumbnails per second (the thumbnail worker's rate per core).

With `--s3-items`, the same import from another bucket of a moto server (in this process) through
bounded parallel server-side copies, against the serial path it replaced (managed copy + HEAD each).

Goal printed: >= 42,000 items/s at 100,000 (10x Label Studio's ~4,200 task URLs/s at 10,000).

    .venv/bin/python benchmarks/import_prefix.py [--items 10000 100000] [--s3-items 1000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex import ItemQuery
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.domain.imports import import_source, make_previews
from service.domain.indexing import Indexer
from service.vocabulary import layout
from service.vocabulary.ids import new_id

TENANT = "bench"
GOAL = 42_000.0
LABEL_STUDIO_RATE = 4_200.0  # task URLs/s at 10,000 (benchmarks/vs_labelstudio.py, this machine)


def pngs(side: int, variants: int = 8) -> list[bytes]:
    from PIL import Image

    out = []
    for n in range(variants):
        buffer = io.BytesIO()
        Image.new("RGB", (side, side), (n * 30 % 256, 90, 200)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def write_source(root: Path, count: int, side: int) -> Path:
    """`count` PNGs in folders of 1,000, as a camera roll or an export would lay them out."""
    images = pngs(side)
    for n in range(count):
        folder = root / f"batch-{n // 1000:04d}"
        if n % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"img-{n:07d}.png").write_bytes(images[n % len(images)])
    return root


def bare_links(source: Path, target: Path) -> tuple[int, float]:
    """mkdir + link of every file: what the store's layout costs the file system, nothing else."""
    started = time.perf_counter()
    count = 0
    for folder in sorted(source.iterdir()):
        for path in sorted(folder.iterdir()):
            directory = target / f"{count:026d}"
            os.mkdir(directory)
            os.link(path, directory / path.name)
            count += 1
    return count, time.perf_counter() - started


def fresh_stack(root: Path) -> tuple[Indexer, str]:
    blobs = LocalBlobStore(root / "blobs")
    dataset = new_id()
    blobs.put_bytes(layout.dataset_record(TENANT, dataset), b'{"name": "bench"}', "application/json")
    return Indexer(blobs, SqliteSearchIndex(root / "index.db")), dataset


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def run_local(count: int, preview_items: int) -> list[tuple[str, int, float]]:
    rows = []
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent.parent / "build") as tmp:
        root = Path(tmp)
        source = write_source(root / "source", count, 8)
        (root / "links").mkdir()
        os.sync()  # a source exists long before its import: its writes are not the import's to flush
        rows.append((f"baseline: bare mkdir + link, N={count:,}", *bare_links(source, root / "links")))
        indexer, dataset = fresh_stack(root / "edna")
        os.sync()
        totals, seconds = timed(lambda: import_source(indexer, TENANT, dataset, str(source)))
        listed = indexer.index.count(TENANT, ItemQuery(dataset_id=dataset))
        assert totals["imported"] == listed == count, (totals["imported"], listed)
        rows.append((f"register N={count:,} (import_source)", count, seconds))
        again, seconds = timed(lambda: import_source(indexer, TENANT, dataset, str(source)))
        assert again["imported"] == 0 and again["already"] == count
        rows.append((f"second run N={count:,} (nothing imported)", count, seconds))
    if preview_items:
        rows += run_previews(preview_items)
    return rows


def run_previews(count: int) -> list[tuple[str, int, float]]:
    rows = []
    for threads in sorted({1, os.cpu_count() or 1}):
        with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent.parent / "build") as tmp:
            root = Path(tmp)
            source = write_source(root / "source", count, 64)
            indexer, dataset = fresh_stack(root / "edna")
            totals = import_source(indexer, TENANT, dataset, str(source))
            keys = totals["images"]
            _, seconds = timed(lambda i=indexer, k=keys, t=threads: make_previews(i, k, t, lambda n: None))
            made = indexer.index.count(TENANT, ItemQuery(dataset_id=dataset))
            rows.append((f"previews, {threads} thread(s), 64x64 PNG -> WebP", made, seconds))
    return rows


def run_s3(count: int) -> list[tuple[str, int, float]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from event_ingest import s3_store

    from service.domain.items import provenance

    store, stop = s3_store()
    try:
        source_bucket = "edna-import-source"
        store.client.create_bucket(Bucket=source_bucket)
        data = pngs(8)[0]
        for n in range(count):
            store.client.put_object(Bucket=source_bucket, Key=f"in/img-{n:06d}.png", Body=data, ContentType="image/png")
        with tempfile.TemporaryDirectory() as tmp:
            indexer = Indexer(store, SqliteSearchIndex(Path(tmp) / "index.db"))
            dataset = new_id()
            store.put_bytes(layout.dataset_record(TENANT, dataset), b"{}", "application/json")

            def serial() -> None:  # the path this replaced: a managed copy and a HEAD per object
                for n in range(count):
                    key = layout.item_object(TENANT, dataset, new_id(), f"img-{n:06d}.png")
                    store.copy_in(source_bucket, f"in/img-{n:06d}.png", key, "image/png", provenance("import", 0.0))

            _, serial_seconds = timed(serial)
            other = new_id()
            store.put_bytes(layout.dataset_record(TENANT, other), b"{}", "application/json")
            totals, seconds = timed(lambda: import_source(indexer, TENANT, other, f"s3://{source_bucket}/in/"))
            assert totals["imported"] == count
        return [
            (f"s3 baseline: serial managed copy + HEAD, N={count:,}", count, serial_seconds),
            (f"s3: register N={count:,} (parallel CopyObject)", count, seconds),
        ]
    finally:
        stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--preview-items", type=int, default=2000, help="images to preview per thread count; 0 skips")
    parser.add_argument("--s3-items", type=int, default=0, help="objects imported from a moto bucket; 0 skips")
    args = parser.parse_args()
    (Path(__file__).resolve().parent.parent / "build").mkdir(exist_ok=True)

    rows: list[tuple[str, int, float]] = []
    for count in args.items:
        rows += run_local(count, 0)
    if args.preview_items:
        rows += run_previews(args.preview_items)
    if args.s3_items:
        rows += run_s3(args.s3_items)

    print(f"{'phase':52s} {'items':>8s} {'seconds':>8s} {'items/s':>9s}")
    for name, items, seconds in rows:
        print(f"{name:52s} {items:8,d} {seconds:8.2f} {items / seconds:9,.0f}")
    for count in args.items:
        base = next(r for r in rows if r[0] == f"baseline: bare mkdir + link, N={count:,}")
        ours = next(r for r in rows if r[0] == f"register N={count:,} (import_source)")
        rate = ours[1] / ours[2]
        verdict = "met" if rate >= GOAL else "MISS"
        print(
            f"N={count:,}: {rate:,.0f} items/s = {base[2] / ours[2]:.2f}x the bare links' rate,"
            f" {rate / LABEL_STUDIO_RATE:.1f}x Label Studio's; goal >= {GOAL:,.0f}/s -> {verdict}"
        )
    previews = [r for r in rows if r[0].startswith("previews")]
    if len(previews) == 2:
        one, many = (r[1] / r[2] for r in previews)
        print(f"previews: {one:,.0f}/s on 1 thread, {many:,.0f}/s on {os.cpu_count()} ({many / one:.2f}x)")
    s3 = [r for r in rows if r[0].startswith("s3")]
    if s3:
        print(f"s3: parallel CopyObject import {s3[0][2] / s3[1][2]:.1f}x the serial path")
    print("reproduce: .venv/bin/python benchmarks/import_prefix.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
