"""Storage-event ingest: items/s from S3 notifications into the index, and how soon previews follow.

Pre-writes `--items` objects to a LocalBlobStore in a temporary directory: half small PNG images
(640x480, ~190 KB), half non-image files (CSV and JSON, 2-6 KB); 60% carry a label and a tag, in two
datasets that exist (their records are stored). Filenames include spaces, parentheses and accents,
so the URL-encoded keys of S3's notification format (`quote_plus`, one record per event, as S3
sends them) are decoded for real. Each object's `ObjectCreated:Put` event then goes through
`service.domain.events.on_storage_event` with the service's Indexer over the store, a
SqliteSearchIndex and the local thumbnail queue (one thread per core, as `python -m service run`
configures it): events index at once and queue the images' thumbnails; the time from the last event
until every preview exists is measured apart. The same again with S3BlobStore on a moto
ThreadedMotoServer (loopback, in this process, so its work is in the figures) for `--s3-items`.

The baseline, measured in the same run: raw `index.upsert` of the very records the ingest
produced, one call each, into a fresh index: what indexing costs beyond reading storage. Also
measured: the same events replayed (the indexer re-reads storage and finds nothing new).
The goal printed: >= 2,000 items/s (embedded).

With `--json`, stdout is one JSON object (each phase's items, seconds and items/s; the goal).

    .venv/bin/python benchmarks/event_ingest.py [--items 5000] [--s3-items 500] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bounds import Deadline

from service.adapters.blobstore import BlobStore
from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.adapters.thumbnailqueue.local import LocalThumbnailQueue
from service.domain.events import on_storage_event
from service.domain.indexing import Indexer
from service.vocabulary import layout
from service.vocabulary.ids import new_id

TENANT = "bench"
THUMBNAIL_WORKERS = os.cpu_count() or 1
GOAL = 2000.0  # items/s, embedded
LABELS = ["cat", "dog", "bird", "car", "truck", "person", "bicycle", "boat", "horse", "plane"]
IMAGE_SIZE = (640, 480)


@dataclass(frozen=True)
class StoredObject:
    key: str
    content_type: str
    data: bytes
    tags: dict[str, str]

    @property
    def image(self) -> bool:
        return self.content_type.startswith("image/")


def png_variants(count: int, rng: random.Random) -> list[bytes]:
    """Small photo-like PNGs (gradient, shapes, a little noise): Pillow decodes them, as real uploads."""
    from PIL import Image, ImageDraw

    variants = []
    width, height = IMAGE_SIZE
    for _ in range(count):
        image = Image.linear_gradient("L").resize(IMAGE_SIZE).convert("RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(width), rng.randrange(height)
            color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.ellipse((x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 200)), fill=color)
        noise = Image.effect_noise((width // 4, height // 4), 40).resize(IMAGE_SIZE).convert("RGB")
        image = Image.blend(image, noise, 0.15)
        out = io.BytesIO()
        image.save(out, format="PNG")
        variants.append(out.getvalue())
    return variants


def make_objects(count: int, seed: int) -> list[StoredObject]:
    """Half PNG images, half CSV/JSON files, in two datasets, with awkward (URL-encodable) names."""
    rng = random.Random(seed)
    pngs = png_variants(8, rng)
    datasets = [new_id(), new_id()]
    objects = []
    for n in range(count):
        image = n % 2 == 0
        if image:
            name = rng.choice([f"img-{n:06d}.png", f"scan {n:04d} (copy).png", f"café-{n:06d}.png"])
            content_type, data = "image/png", rng.choice(pngs)
        elif rng.random() < 0.5:
            name, content_type = f"readings {n:06d}.csv", "text/csv"
            rows = "\n".join(f"{i},{rng.random():.6f},{rng.choice(LABELS)}" for i in range(rng.randrange(80, 250)))
            data = ("id,value,class\n" + rows).encode()
        else:
            name, content_type = f"meta-{n:06d}+v2.json", "application/json"
            data = json.dumps({"id": n, "values": [rng.random() for _ in range(rng.randrange(100, 300))]}).encode()
        tags = {}
        if rng.random() < 0.6:
            tags = {"label": rng.choice(LABELS), "split": rng.choice(["train", "val", "test"])}
        key = layout.item_object(TENANT, datasets[0 if rng.random() < 0.7 else 1], new_id(), name)
        objects.append(StoredObject(key, content_type, data, tags))
    return objects


def s3_event(obj: StoredObject, etag: str) -> dict:
    """One S3 event notification, as S3 delivers it: one record, the key URL-encoded."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "edna-indexer",
                    "bucket": {"name": "edna-data", "arn": "arn:aws:s3:::edna-data"},
                    "object": {
                        "key": quote_plus(obj.key, safe="/"),
                        "size": len(obj.data),
                        "eTag": etag,
                        "sequencer": f"{time.time_ns():016X}",
                    },
                },
            }
        ]
    }


def write_objects(store: BlobStore, objects: list[StoredObject], deadline: Deadline) -> list[tuple[StoredObject, str]]:
    """Put each object (and its tags) in storage, after its dataset's record; returns (object, etag)
    of those written in time."""
    written = []
    for item in {layout.parse_item(o.key) for o in objects}:
        record = layout.dataset_record(item.tenant, item.dataset_id)
        if store.head(record) is None:
            store.put_bytes(record, b'{"name": "ingest"}', "application/json")
    for obj in objects:
        if deadline.passed():
            break
        store.put_bytes(obj.key, obj.data, obj.content_type)
        if obj.tags:
            store.put_tags(obj.key, obj.tags)
        info = store.head(obj.key)
        written.append((obj, info.etag if info else ""))
    return written


@dataclass
class Run:
    items: int = 0
    applied: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def ingest(indexer: Indexer, written: list[tuple[StoredObject, str]], deadline: Deadline) -> Run:
    """Deliver one event per object through on_storage_event, timing the whole batch."""
    events = [s3_event(obj, etag) for obj, etag in written]
    run = Run()
    started = time.perf_counter()
    for event in events:
        if deadline.passed():
            break
        run.applied += on_storage_event(event, indexer)
        run.items += 1
    run.seconds = time.perf_counter() - started
    return run


def baseline(source: SqliteSearchIndex, written: list[tuple[StoredObject, str]], path: Path) -> Run:
    """Raw `upsert` of the records the ingest made (read back first, not timed), one call each."""
    records = []
    for obj, _ in written:
        item = layout.parse_item(obj.key)
        record = source.get(item.tenant, item.dataset_id, item.item_id) if item else None
        if record is not None:
            records.append(record)
    index = SqliteSearchIndex(path)
    run = Run(items=len(records))
    started = time.perf_counter()
    for record in records:
        run.applied += index.upsert(record)
    run.seconds = time.perf_counter() - started
    return run


def by_kind(indexer: Indexer, written: list[tuple[StoredObject, str]], deadline: Deadline) -> tuple[Run, Run, Run]:
    """Images first, then non-images; and the two together."""
    images = ingest(indexer, [w for w in written if w[0].image], deadline)
    others = ingest(indexer, [w for w in written if not w[0].image], deadline)
    total = Run(images.items + others.items, images.applied + others.applied, images.seconds + others.seconds)
    return images, others, total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_store() -> tuple[BlobStore, Callable[[], None]]:
    """S3BlobStore over a moto server on a loopback port, with fake credentials; and its stopper."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
    )
    import boto3
    from botocore.config import Config as BotoConfig
    from moto.server import ThreadedMotoServer

    from service.adapters.blobstore.s3 import S3BlobStore

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket="edna-data")
    return S3BlobStore("edna-data", endpoint_url=endpoint, client=client), server.stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000, help="objects for the embedded (local) run")
    parser.add_argument("--s3-items", type=int, default=500, help="objects for the S3 (moto) run; 0 skips it")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop early (with a warning) past this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, no table")
    args = parser.parse_args()
    deadline = Deadline(args.max_seconds)
    rows: dict[str, Run] = {}
    checks: list[str] = []

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        objects = make_objects(args.items, args.seed)
        store = LocalBlobStore(root / "local" / "blobs")  # no listeners: events come only from this script
        index = SqliteSearchIndex(root / "local" / "index.db")
        thumbnails = LocalThumbnailQueue(THUMBNAIL_WORKERS, len(objects))
        indexer = Indexer(store, index, thumbnails)
        thumbnails.serve(indexer.make_thumbnail)
        started = time.perf_counter()
        written = write_objects(store, objects, deadline)
        write_seconds = time.perf_counter() - started
        png_kb = sum(len(o.data) for o in objects if o.image) / max(1, sum(o.image for o in objects)) / 1024
        other_kb = sum(len(o.data) for o in objects if not o.image) / max(1, sum(not o.image for o in objects)) / 1024
        images, others, total = by_kind(indexer, written, deadline)
        rows["local: images (thumbnail queued)"] = images
        rows["local: non-images (CSV/JSON)"] = others
        rows["local: all"] = total
        started = time.perf_counter()
        thumbnails.wait(max(1.0, deadline.end - time.monotonic()))
        image_count = sum(1 for o, _ in written if o.image)
        rows[f"local: previews, {THUMBNAIL_WORKERS} worker(s), after the last event"] = Run(
            image_count, image_count, time.perf_counter() - started
        )
        rows["local: same events replayed"] = ingest(indexer, written, deadline)
        base = baseline(index, written, root / "baseline" / "index.db")
        thumbs = sum(1 for _ in store.iter_objects(layout.tenant_prefix(TENANT) + "thumbnails/"))
        thumbnails.close()
        checks.append(
            f"local: {len(written)} objects written in {write_seconds:.1f} s (not timed); "
            f"{total.applied}/{total.items} events applied, {base.items} items in the index, "
            f"{thumbs} thumbnails for {image_count} images"
        )

        if args.s3_items and not deadline.passed():
            s3, stop = s3_store()
            try:
                s3_index = SqliteSearchIndex(root / "s3" / "index.db")
                s3_indexer = Indexer(s3, s3_index)
                s3_written = write_objects(s3, make_objects(args.s3_items, args.seed + 1), deadline)
                s3_images, s3_others, s3_total = by_kind(s3_indexer, s3_written, deadline)
                rows["s3 (moto): images (thumbnail made inline)"] = s3_images
                rows["s3 (moto): non-images (CSV/JSON)"] = s3_others
                rows["s3 (moto): all"] = s3_total
                rows["s3 (moto): same events replayed"] = ingest(s3_indexer, s3_written, deadline)
                checks.append(f"s3 (moto): {s3_total.applied}/{s3_total.items} events applied")
            finally:
                stop()

    if args.json:
        runs = {"raw index.upsert of the same records (baseline)": base, **rows}
        figures = {name: {"items": r.items, "seconds": r.seconds, "items_per_s": r.rate} for name, r in runs.items()}
        print(json.dumps({"goal_items_per_s": GOAL, "runs": figures, "checks": checks}))
        return
    print(
        f"on_storage_event -> Indexer -> SqliteSearchIndex; one S3 record per event; {args.items} local objects "
        f"(half PNG {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} of ~{png_kb:.0f} KB, half CSV/JSON of ~{other_kb:.0f} KB), "
        f"{args.s3_items} on S3 (moto, in-process)"
    )
    for check in checks:
        print("  " + check)
    print(f"{'phase':44} {'items':>6} {'seconds':>8} {'items/s':>8} {'ms/item':>8} {'vs baseline':>12}")
    print(f"{'raw index.upsert of the same records (baseline)':44} {fmt(base)}")
    for name, run in rows.items():
        slower = f"{base.rate / run.rate:.1f}x slower" if run.rate else "-"
        print(f"{name:44} {fmt(run)} {slower:>12}")
    print(f"goal: >= {GOAL:,.0f} items/s embedded")
    for name in ("local: all", "local: images (thumbnail queued)", "local: non-images (CSV/JSON)"):
        if name in rows:
            rate = rows[name].rate
            print(f"  {name:40} {rate:8,.0f} items/s -> {'ok' if rate >= GOAL else 'MISS'}")
    print(
        "reproduce: .venv/bin/python benchmarks/event_ingest.py "
        f"--items {args.items} --s3-items {args.s3_items} --max-seconds {args.max_seconds:g} --seed {args.seed}"
    )


def fmt(run: Run) -> str:
    ms = 1000 * run.seconds / run.items if run.items else 0.0
    return f"{run.items:6d} {run.seconds:8.2f} {run.rate:8.0f} {ms:8.2f}"


if __name__ == "__main__":
    main()
