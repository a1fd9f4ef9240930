"""A data dir with big image datasets for the grid benchmark, written fast through the project's code.

Each item is what an upload leaves behind: its PNG object (LocalBlobStore.put_bytes with the
provenance metadata), its WebP thumbnail (made by service.domain.thumbnails.make_thumbnail, kept
with the width/height/source-etag metadata the Indexer reuses) and its ItemRecord, written with
SqliteSearchIndex.upsert_many in chunks. The same ten small images are reused for every item; the
dataset records come from DatasetCatalog. `check_like_indexer` proves that a `reindex` of storage
alone would write the very records prepared here.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from bounds import Deadline

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.adapters.vectorindex.local import LocalVectorIndex
from service.bootstrap import build_blob_store, build_search_index
from service.domain.datasets import DatasetCatalog
from service.domain.indexing import Indexer
from service.domain.items import provenance
from service.domain.thumbnails import Thumbnail, make_thumbnail
from service.settings import Config
from service.vocabulary import layout
from service.vocabulary.roles import Principal

TENANT = "gridbench"
OWNER = "grid-owner"
CHUNK = 5_000  # items per upsert_many transaction (and per batch of object writes)
MARKER = "grid-bench.json"  # what this module prepared in a data dir, so a later run can reuse it
SIDE = 64
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass(frozen=True)
class Picture:
    png: bytes
    etag: str  # MD5 of the PNG, as the blob store computes it
    thumbnail: Thumbnail


def pictures(count: int = 10) -> list[Picture]:
    """`count` distinct 64x64 PNGs (a gradient and a disc each) and their thumbnails, made once."""
    from PIL import Image, ImageDraw

    out = []
    for n in range(count):
        image = Image.new("RGB", (SIDE, SIDE))
        draw = ImageDraw.Draw(image)
        for y in range(SIDE):
            draw.line([(0, y), (SIDE, y)], fill=((n * 25) % 256, 4 * y, 255 - 4 * y))
        r = 8 + 2 * n
        draw.ellipse([SIDE // 2 - r, SIDE // 2 - r, SIDE // 2 + r, SIDE // 2 + r], fill=(255, 255 - n * 20, 40))
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        png = buf.getvalue()
        thumb = make_thumbnail(png, Config.max_image_pixels)
        if thumb is None:
            raise RuntimeError("make_thumbnail refused a PNG made by Pillow")
        out.append(Picture(png, hashlib.md5(png, usedforsecurity=False).hexdigest(), thumb))
    return out


def ulid(ms: int, rng: random.Random) -> str:
    """A lower-case ULID like service.vocabulary.ids.new_id, for a given millisecond."""
    value = (ms << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def open_store(data_dir: Path) -> tuple[LocalBlobStore, SqliteSearchIndex]:
    """The data dir's blob store and index, built by the service's own bootstrap."""
    config = Config.from_env(data_dir=data_dir)
    blobs, index = build_blob_store(config), build_search_index(config)
    if not isinstance(blobs, LocalBlobStore) or not isinstance(index, SqliteSearchIndex):
        raise SystemExit("the grid benchmark needs the embedded adapters: unset EDNA_STORAGE and EDNA_SEARCH")
    return blobs, index


def read_marker(data_dir: Path) -> dict:
    path = data_dir / MARKER
    return json.loads(path.read_text()) if path.exists() else {"tenant": TENANT, "datasets": {}}


def prepare(data_dir: Path, sizes: list[int], workers: int, deadline: Deadline, seed: int = 7) -> dict[int, str]:
    """One dataset per size (reused if this data dir already has it); returns size -> dataset id."""
    data_dir.mkdir(parents=True, exist_ok=True)
    blobs, index = open_store(data_dir)
    catalog = DatasetCatalog(blobs, index, LocalVectorIndex(data_dir / "vectors"))
    marker = read_marker(data_dir)
    pics = pictures()
    rng = random.Random(seed)
    made: dict[int, str] = {}
    for size in sizes:
        name = f"grid-{size}"
        known = marker["datasets"].get(name)
        if known and index.stats(TENANT, known).item_count == size:
            made[size] = known
            print(f"  {name}: reused dataset {known} ({size:,} items)")
            continue
        principal = Principal(OWNER, TENANT, ("admin",))
        dataset = catalog.create(principal, name, f"{size:,} generated images for benchmarks/grid_100k.py")
        started = time.perf_counter()
        fill(blobs, index, dataset.id, size, pics, rng, workers, deadline)
        if index.stats(TENANT, dataset.id).item_count != size:
            raise SystemExit(f"{name}: preparation stopped early (--max-seconds); nothing to measure")
        spent = time.perf_counter() - started
        print(f"  {name}: {size:,} items in {spent:.1f} s ({size / spent:,.0f} items/s, {2 * size:,} objects)")
        marker["datasets"][name] = made[size] = dataset.id
        (data_dir / MARKER).write_text(json.dumps(marker, indent=1))
    return made


def fill(
    blobs: LocalBlobStore,
    index: SqliteSearchIndex,
    dataset_id: str,
    size: int,
    pics: list[Picture],
    rng: random.Random,
    workers: int,
    deadline: Deadline,
) -> None:
    """Objects and thumbnails with a thread pool (the writes fsync), then each chunk's records at once."""
    start_ms = int(time.time() * 1000) - size - 60_000  # one millisecond apart: ids sort by number
    with ThreadPoolExecutor(workers) as pool:
        for first in range(0, size, CHUNK):
            if deadline.passed():
                return
            numbers = range(first, min(size, first + CHUNK))
            chunk = [pics[n % len(pics)] for n in numbers]
            records = [
                item_record(dataset_id, ulid(start_ms + n, rng), n, (start_ms + n) / 1000, pic)
                for n, pic in zip(numbers, chunk, strict=True)
            ]
            list(pool.map(lambda r, p: write_objects(blobs, r, p), records, chunk))
            index.upsert_many(records)


def item_record(dataset_id: str, item_id: str, n: int, created_at: float, pic: Picture) -> ItemRecord:
    """What the Indexer writes for an uploaded PNG with its thumbnail (see check_like_indexer)."""
    created_at = float(f"{created_at:.3f}")  # as the object's created-at metadata keeps it
    now = time.time()
    return ItemRecord(
        tenant=TENANT,
        dataset_id=dataset_id,
        item_id=item_id,
        filename=f"img-{n + 1:06d}.png",
        content_type="image/png",
        size=len(pic.png),
        status=AVAILABLE,
        created_at=created_at,
        created_by=OWNER,
        etag=pic.etag,
        updated_at=now,
        width=pic.thumbnail.width,
        height=pic.thumbnail.height,
        thumbnail=True,
        observed_at=now,
    )


def write_objects(blobs: LocalBlobStore, record: ItemRecord, pic: Picture) -> None:
    """The item's object (with its provenance) and its thumbnail (with what the Indexer reuses)."""
    key = layout.item_object(record.tenant, record.dataset_id, record.item_id, record.filename)
    etag = blobs.put_bytes(key, pic.png, record.content_type, provenance(record.created_by, record.created_at))
    thumb = pic.thumbnail
    metadata = {"width": str(thumb.width), "height": str(thumb.height), "source-etag": etag}
    blobs.put_bytes(
        layout.thumbnail(record.tenant, record.dataset_id, record.item_id), thumb.webp, "image/webp", metadata
    )


def check_like_indexer(data_dir: Path, dataset_id: str, scratch: Path, samples: int = 3) -> None:
    """Index a few prepared items again from storage alone (a scratch index, as `reindex` would) and
    compare with the prepared records; the thumbnail must be reused, not made again."""
    blobs, index = open_store(data_dir)
    indexer = Indexer(blobs, SqliteSearchIndex(scratch / "check-index.db"))
    records = index.search(TENANT, ItemQuery(dataset_id=dataset_id), samples, None)
    for prepared in records:
        thumb_key = layout.thumbnail(TENANT, dataset_id, prepared.item_id)
        before = blobs.head(thumb_key)
        key = layout.ItemKey(TENANT, dataset_id, prepared.item_id, prepared.filename)
        fresh = indexer.refresh(key)
        if fresh is None or _stable(fresh) != _stable(prepared):
            raise SystemExit(f"prepared record differs from what the Indexer reads:\n{prepared}\n{fresh}")
        after = blobs.head(thumb_key)
        if before is None or after is None or after.etag != before.etag or after.last_modified != before.last_modified:
            raise SystemExit(f"the Indexer did not reuse the prepared thumbnail of {prepared.item_id}")


def _stable(record: ItemRecord) -> ItemRecord:
    return replace(record, updated_at=0.0, observed_at=0.0)
