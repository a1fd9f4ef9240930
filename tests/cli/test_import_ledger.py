"""`import-prefix` on the local store: hard links, the ledger that makes it idempotent, and resuming."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex import ItemQuery
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.domain import imports
from service.domain.indexing import Indexer
from service.vocabulary import layout

TENANT, DATASET = "acme", "01hzzzzzzzzzzzzzzzzzzzzzzz"


class Stopped(Exception):
    pass


@pytest.fixture
def indexer(tmp_path: Path) -> Indexer:
    blobs = LocalBlobStore(tmp_path / "data" / "blobs")
    blobs.put_bytes(layout.dataset_record(TENANT, DATASET), b'{"name": "imported"}', "application/json")
    return Indexer(blobs, SqliteSearchIndex(tmp_path / "data" / "index.db"))


def source_dir(tmp_path: Path, count: int) -> Path:
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    for n in range(count):
        (source / ("nested" if n % 2 else "") / f"file-{n}.txt").write_bytes(f"content {n}\n".encode())
    return source


def items(indexer: Indexer) -> dict[str, str]:
    """filename -> item id of every item the index lists."""
    return {r.filename: r.item_id for r in records(indexer).values()}


def records(indexer: Indexer) -> dict:
    """filename -> record of every item the index lists."""
    return {r.filename: r for r in indexer.index.search(TENANT, ItemQuery(dataset_id=DATASET), 1000, None)}


def stored_objects(indexer: Indexer) -> list[str]:
    return [o.key for o in indexer.blobs.iter_objects(layout.items_prefix(TENANT, DATASET))]


def test_objects_are_hard_links_whose_etag_holds_until_the_file_changes(indexer, tmp_path):
    source = source_dir(tmp_path, 2)
    (source / "link.txt").symlink_to(source / "file-0.txt")

    totals = imports.import_source(indexer, TENANT, DATASET, str(source))

    assert (totals["imported"], totals["skipped"]) == (3, [])
    imported = records(indexer)
    for name, path in {"file-0.txt": source / "file-0.txt", "link.txt": source / "file-0.txt"}.items():
        key = layout.item_object(TENANT, DATASET, imported[name].item_id, name)
        stored = indexer.blobs._path(key)
        assert not stored.is_symlink() and os.stat(stored).st_ino == os.stat(path).st_ino  # no bytes copied
        info = indexer.blobs.head(key)
        assert (info.etag, info.content_type, info.size) == (imported[name].etag, "text/plain", 10)
        indexer.blobs.put_tags(key, {layout.LABEL_TAG: "cat"})  # labelling writes a sidecar of tags only
        assert indexer.blobs.head(key).etag == imported[name].etag
    os.utime(source / "file-0.txt", ns=(1, 1))  # the file changed under the store: its ETag changes
    changed = layout.item_object(TENANT, DATASET, imported["file-0.txt"].item_id, "file-0.txt")
    assert indexer.blobs.head(changed).etag != imported["file-0.txt"].etag

    indexer.blobs.delete_many([changed])  # deleting the item leaves the source file
    assert (source / "file-0.txt").read_bytes() == b"content 0\n"


def test_a_second_run_imports_nothing_and_a_new_file_once(indexer, tmp_path):
    source = source_dir(tmp_path, 4)
    first = imports.import_source(indexer, TENANT, DATASET, str(source))
    (source / "nested" / "late.txt").write_bytes(b"late\n")

    second = imports.import_source(indexer, TENANT, DATASET, str(source))
    third = imports.import_source(indexer, TENANT, DATASET, str(source) + "/")  # the same directory

    assert (first["imported"], second["imported"], second["already"]) == (4, 1, 4)
    assert (third["imported"], third["already"]) == (0, 5)
    assert len(items(indexer)) == len(stored_objects(indexer)) == 5


def test_a_run_cut_short_resumes_its_unfinished_batch_with_the_same_ids(indexer, tmp_path, monkeypatch):
    source = source_dir(tmp_path, 7)
    monkeypatch.setattr(imports, "BATCH", 3)

    def stop_after_first_batch(n: int) -> None:
        raise Stopped  # the second batch is in its ledger and being placed: the process dies here

    with pytest.raises(Stopped):
        imports.import_source(indexer, TENANT, DATASET, str(source), stop_after_first_batch)
    ledger = imports.Ledger(indexer.blobs, TENANT, DATASET, str(source.resolve()))
    assert (len(ledger.done), len(ledger.unfinished)) == (3, 3)

    resumed = imports.import_source(indexer, TENANT, DATASET, str(source))

    assert (resumed["imported"], resumed["already"]) == (4, 3)
    listed = items(indexer)
    assert len(listed) == len(stored_objects(indexer)) == 7  # nothing imported twice
    for name, item_id in ledger.unfinished.items():
        assert listed[name.rpartition("/")[2]] == item_id


def test_a_deleted_item_of_an_unfinished_batch_stays_deleted(indexer, tmp_path, monkeypatch):
    source = source_dir(tmp_path, 4)
    monkeypatch.setattr(imports, "BATCH", 2)
    with pytest.raises(Stopped):
        imports.import_source(indexer, TENANT, DATASET, str(source), lambda n: (_ for _ in ()).throw(Stopped()))
    ledger = imports.Ledger(indexer.blobs, TENANT, DATASET, str(source.resolve()))
    name, item_id = next(iter(ledger.unfinished.items()))
    tombstone = layout.item_tombstone(TENANT, DATASET, item_id)
    indexer.blobs.put_bytes(tombstone, b"", "application/octet-stream")  # as deleting the item leaves

    imports.import_source(indexer, TENANT, DATASET, str(source))

    assert name.rpartition("/")[2] not in items(indexer)
    assert len(items(indexer)) == 3


@pytest.mark.parametrize(
    "name", ["a.png", "B.PNG", "y.tar.gz", "noext", ".hidden", ".x.png", "photo.2024.01.jpeg", "a..csv", "t.JSON"]
)
def test_a_linked_objects_type_is_what_mimetypes_guesses_from_its_name(name):
    import mimetypes

    from service.adapters.blobstore.local_linked import guessed_type

    assert guessed_type(f"tenants/t/datasets/d/items/i/{name}") == (
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
