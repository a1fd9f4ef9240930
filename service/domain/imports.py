"""Importing objects that already sit in storage (or on this machine's disk) as items of a dataset.

Objects are placed in batches and each batch is indexed in one write while the next is placed: on the
local store a hard link (no bytes copied), on S3 a server-side copy (bounded, in parallel). A ledger
in storage remembers which source object became which item, written before each batch is placed:
a second run of the same import skips what is done, and a run cut short resumes its unfinished batch
with the same item ids. Thumbnails are left to the thumbnail worker (`make_previews` here, for a
command without a queue).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from service.adapters.blobstore import BlobStore, ObjectInfo, ObjectMissing
from service.adapters.searchindex import AVAILABLE, ItemRecord
from service.domain.indexing import Indexer
from service.domain.items import provenance
from service.domain.rebuild import bounded_map
from service.domain.thumbnails import MAX_SOURCE_BYTES
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest
from service.vocabulary.ids import new_id

IMPORT_USER = "import"
BATCH = 5000  # items per ledger chunk and per index write
COPY_WORKERS = 16  # S3 server-side copies (or uploads of local files) in flight


@dataclass(frozen=True)
class SourceObject:
    name: str  # its path below the source: the ledger's key
    size: int | None  # None when placing tells (a local file's stat costs as much as its link)
    ref: str  # a local file path, or the key in the source bucket


class Source:
    """Where the objects come from, and how one is placed at a key of the store."""

    uri: str
    parallel: bool  # placing waits on the network: many at once

    def objects(self) -> Iterator[SourceObject]:
        raise NotImplementedError

    def place(self, obj: SourceObject, key: str, created_at: float) -> ObjectInfo:
        raise NotImplementedError


class LocalSource(Source):
    def __init__(self, blobs: BlobStore, root: Path):
        self.blobs = blobs
        self.root = root.resolve()
        self.uri = str(self.root)
        self.link_in = getattr(blobs, "link_in", None)  # the local store: hard links
        self.parallel = self.link_in is None

    def objects(self) -> Iterator[SourceObject]:
        if self.root.is_file():
            yield SourceObject(self.root.name, None, str(self.root))
            return
        yield from _walk(str(self.root), "")

    def place(self, obj: SourceObject, key: str, created_at: float) -> ObjectInfo:
        if self.link_in is not None:
            return self.link_in(key, obj.ref)
        return self.blobs.put_file(key, Path(obj.ref), _type(obj.name), provenance(IMPORT_USER, created_at))


def _walk(directory: str, below: str) -> Iterator[SourceObject]:
    """Files (symlinks followed) in name order, depth first; one directory's listing held at a time."""
    with os.scandir(directory) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered:
        name = below + entry.name
        try:
            if entry.is_dir():
                yield from _walk(entry.path, name + "/")
            elif entry.is_file():
                yield SourceObject(name, None, entry.path)
        except FileNotFoundError:
            continue  # gone since it was listed


class S3Source(Source):
    parallel = True

    def __init__(self, blobs: BlobStore, uri: str):
        self.copy_in = getattr(blobs, "copy_in", None)
        if self.copy_in is None:
            raise BadRequest("importing from s3:// needs EDNA_STORAGE=s3")
        self.client = blobs.client
        self.uri = uri
        self.bucket, _, self.prefix = uri.removeprefix("s3://").partition("/")

    def objects(self) -> Iterator[SourceObject]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    yield SourceObject(obj["Key"][len(self.prefix) :].lstrip("/"), obj["Size"], obj["Key"])

    def place(self, obj: SourceObject, key: str, created_at: float) -> ObjectInfo:
        meta = provenance(IMPORT_USER, created_at)
        return self.copy_in(self.bucket, obj.ref, key, _type(obj.name), meta, size=obj.size)


def source_of(blobs: BlobStore, source: str) -> Source:
    if source.startswith("s3://"):
        return S3Source(blobs, source)
    root = Path(source)
    if not root.exists():
        raise BadRequest(f"{source} does not exist")
    return LocalSource(blobs, root)


def _type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


class Ledger:
    """The import's chunks in storage: {"done": bool, "items": [[source name, item id], ...]}."""

    def __init__(self, blobs: BlobStore, tenant: str, dataset_id: str, source_uri: str):
        self.blobs = blobs
        self.tenant, self.dataset_id = tenant, dataset_id
        self.digest = hashlib.sha256(source_uri.encode()).hexdigest()[:32]
        self.done: set[str] = set()
        self.unfinished: dict[str, str] = {}  # source name -> the item id it was given
        self.chunks = 0
        prefix = layout.import_ledger_prefix(tenant, dataset_id, self.digest)
        for info in self.blobs.iter_objects(prefix):  # in chunk order: a later chunk's word is the last
            chunk = json.loads(self.blobs.get_bytes(info.key))
            for name, item_id in chunk["items"]:
                if chunk["done"]:
                    self.done.add(name)
                    self.unfinished.pop(name, None)
                elif name not in self.done:
                    self.unfinished[name] = item_id
            self.chunks += 1

    def write(self, number: int, items: list[tuple[str, str]], done: bool) -> None:
        key = layout.import_ledger_chunk(self.tenant, self.dataset_id, self.digest, number)
        self.blobs.put_bytes(key, json.dumps({"done": done, "items": items}).encode(), "application/json")


@dataclass
class Planned:
    obj: SourceObject
    item: layout.ItemKey
    resumed: bool  # given its id by a run that did not finish


def import_source(
    indexer: Indexer, tenant: str, dataset_id: str, source: str, step: Callable[[int], None] = lambda n: None
) -> dict:
    """Every object under `source` not imported before becomes a new item of the dataset.

    Returns {"imported", "already" (done by an earlier run), "skipped": [reasons], "images": [keys
    of images to preview]}."""
    src = source_of(indexer.blobs, source)
    ledger = Ledger(indexer.blobs, tenant, dataset_id, src.uri)
    totals: dict = {"imported": 0, "already": 0, "skipped": [], "images": []}

    def planned() -> Iterator[Planned]:
        for obj in src.objects():
            if obj.name in ledger.done:
                totals["already"] += 1
                continue
            try:
                filename = names.filename(obj.name.rpartition("/")[2])
            except BadRequest as exc:
                totals["skipped"].append(f"{obj.name}: {exc.message}")
                continue
            resumed = ledger.unfinished.get(obj.name)
            yield Planned(obj, layout.ItemKey(tenant, dataset_id, resumed or new_id(), filename), bool(resumed))

    def finish(number: int, batch: list[Planned], records: list[ItemRecord]) -> None:
        indexer.index.upsert_many(records)
        ledger.write(number, [(p.obj.name, p.item.item_id) for p in batch], done=True)
        totals["imported"] += len(records)
        totals["images"] += [
            layout.item_object(r.tenant, r.dataset_id, r.item_id, r.filename) for r in records if _previewed(r)
        ]
        step(len(batch))

    with ThreadPoolExecutor(1, thread_name_prefix="edna-import") as placer:
        previous = None
        for number, batch in enumerate(_batches(planned(), BATCH), start=ledger.chunks):
            if indexer.blobs.head(layout.dataset_record(tenant, dataset_id)) is None:
                raise BadRequest(f"dataset {dataset_id} was deleted during the import")
            ledger.write(number, [(p.obj.name, p.item.item_id) for p in batch], done=False)
            placing = placer.submit(_place_batch, indexer, src, batch)
            if previous is not None:
                finish(*previous[0], previous[1].result())
            previous = ((number, batch), placing)
        if previous is not None:
            finish(*previous[0], previous[1].result())
    return totals


def _batches(items: Iterable[Planned], size: int) -> Iterator[list[Planned]]:
    batch: list[Planned] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _place_batch(indexer: Indexer, src: Source, batch: list[Planned]) -> list[ItemRecord]:
    """Place a batch's objects; the records to index (no head: the placing said what is there)."""
    now = time.time()

    def one(p: Planned) -> ItemRecord | None:
        if p.resumed:  # an earlier run may have placed it, or it was deleted since
            if indexer.gone(p.item):
                return None
            info = indexer.blobs.head(p.item.object_key)
            if info is not None:
                return _record(p.item, info, now)
        try:
            return _record(p.item, src.place(p.obj, p.item.object_key, now), now)
        except (FileNotFoundError, ObjectMissing):
            return None  # gone from the source since it was listed

    placed = bounded_map(one, batch, COPY_WORKERS) if src.parallel else map(one, batch)
    return [record for record in placed if record is not None]


def _record(item: layout.ItemKey, info: ObjectInfo, now: float) -> ItemRecord:
    return ItemRecord(
        tenant=item.tenant,
        dataset_id=item.dataset_id,
        item_id=item.item_id,
        filename=item.filename,
        content_type=info.content_type or "application/octet-stream",
        size=info.size,
        status=AVAILABLE,
        created_at=now,
        created_by=IMPORT_USER,
        etag=info.etag,
        updated_at=now,
        observed_at=now,
    )


def _previewed(record: ItemRecord) -> bool:
    return record.content_type.startswith("image/") and record.size <= MAX_SOURCE_BYTES


def make_previews(indexer: Indexer, keys: list[str], workers: int, step: Callable[[int], None]) -> None:
    """The thumbnail worker's work for keys an import left, on `workers` threads (Pillow decodes
    and encodes outside the GIL)."""
    for _ in bounded_map(indexer.make_thumbnail, keys, workers):
        step(1)
