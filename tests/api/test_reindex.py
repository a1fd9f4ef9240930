"""The index is a derived view (DESIGN.md §1): rebuilt from storage alone, it answers every query alike.

Each test fills a stack through the API, records the answers to a fixed set of queries, then builds a
new app over the same storage with an empty index, reindexes (the domain function, and the operator
command in a subprocess) and asks the same queries again. Imports register objects that already sit
in storage (a local directory, or another bucket) as items.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import Stack, issuer_pem, running_stack, s3_client, serve
from PIL import Image

from service import create_app
from service.client import ApiError, EdnaClient
from service.domain.imports import import_source, make_previews
from service.domain.rebuild import rebuild
from service.settings import Config, env_name
from service.vocabulary import layout

REPO = Path(__file__).resolve().parents[2]
TENANT = "demo"  # the tenant of Stack.client()'s tokens
CLI_TIMEOUT = 60
INDEX_FILES = ("index.db", "index.db-wal", "index.db-shm")


def png(width: int, height: int, color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def items_path(dataset_id: str) -> str:
    return f"/api/datasets/{dataset_id}/items"


def item_path(dataset_id: str, item_id: str) -> str:
    return f"{items_path(dataset_id)}/{item_id}"


def status_of(client: EdnaClient, path: str) -> int:
    try:
        client.call("GET", path)
    except ApiError as exc:
        return exc.status
    return 200


# -- a world to rebuild --------------------------------------------------------------------------------


def fill(client: EdnaClient) -> dict[str, str]:
    """Two datasets with images and text, labels, tags and annotations; returns the dataset ids."""
    pets = client.call("POST", "/api/datasets", json={"name": "pets", "label_classes": ["cat", "dog"]})["id"]
    misc = client.call("POST", "/api/datasets", json={"name": "misc"})["id"]
    uploads = {
        "tabby cat.png": (pets, png(64, 48, "orange"), "image/png"),
        "rex.png": (pets, png(30, 90, "brown"), "image/png"),
        "unsorted blob.png": (pets, png(8, 8, "white"), "image/png"),
        "field notes.txt": (pets, b"notes about the cats\n" * 20, "text/plain"),
        "zebra crossing.png": (misc, png(100, 20, "black"), "image/png"),
    }
    ids = {name: client.upload(ds, name, data, ctype)["id"] for name, (ds, data, ctype) in uploads.items()}

    def put(name: str, what: str, body: dict) -> None:
        client.call("PUT", f"{item_path(uploads[name][0], ids[name])}/{what}", json=body)

    put("tabby cat.png", "label", {"label": "cat"})
    put("tabby cat.png", "tags", {"tags": {"source": "camera", "season": "winter"}})
    put("rex.png", "label", {"label": "dog"})
    put("rex.png", "tags", {"tags": {"source": "phone"}})
    put("field notes.txt", "label", {"label": "cat"})
    put("zebra crossing.png", "label", {"label": "road"})
    put("zebra crossing.png", "tags", {"tags": {"season": "winter"}})
    box = {"label": "cat", "x": 1, "y": 2, "w": 10, "h": 10}
    put("tabby cat.png", "annotations", {"boxes": [box, {**box, "x": 20}], "version": 0})
    put("rex.png", "annotations", {"boxes": [{**box, "label": "dog"}], "version": 0})
    put("zebra crossing.png", "annotations", {"boxes": [{**box, "label": "stripe"}], "version": 0})
    return {"pets": pets, "misc": misc}


def item_view(item: dict) -> dict:
    """What an item is, without what is signed anew or stamped when it is indexed."""
    return {
        "id": item["id"],
        "dataset_id": item["dataset_id"],
        "filename": item["filename"],
        "content_type": item["content_type"],
        "size": item["size"],
        "status": item["status"],
        "label": item["label"],
        "tags": item["tags"],
        "annotations": item["annotations"],
        "created_by": item["created_by"],  # kept as object metadata, so a rebuild knows it too
        "created_at": item["created_at"],
        "thumbnail": item["thumbnail_url"] is not None,
        "preview": (item["preview"]["width"], item["preview"]["height"]) if item["preview"] else None,
        "downloadable": item["download_url"] is not None,
    }


def answers(client: EdnaClient, datasets: dict[str, str]) -> dict:
    """The fixed query set: listings, filters, full text, search across datasets, dataset reads."""
    pets, misc = datasets["pets"], datasets["misc"]

    def listed(path: str, **params) -> list[dict]:
        return [item_view(i) for i in client.pages(path, **params)]

    def dataset(dataset_id: str) -> dict:
        d = client.call("GET", f"/api/datasets/{dataset_id}")
        return {k: d[k] for k in ("id", "name", "label_classes", "item_count", "bytes", "label_counts")}

    result = {
        "pets": listed(items_path(pets)),
        "misc": listed(items_path(misc)),
        "pets label=cat": listed(items_path(pets), label="cat"),
        "pets label=dog": listed(items_path(pets), label="dog"),
        "pets unlabeled": listed(items_path(pets), unlabeled="true"),
        "misc unlabeled": listed(items_path(misc), unlabeled="true"),
        "pets q=filename": listed(items_path(pets), q="tabby"),
        "pets q=filename prefix": listed(items_path(pets), q="unsort"),
        "pets q=tag value": listed(items_path(pets), q="camera"),
        "pets q=label": listed(items_path(pets), q="dog"),
        "pets images": listed(items_path(pets), content_type="image/png"),
        "search q=winter": listed("/api/search", q="winter"),
        "search q=winter dataset=misc": listed("/api/search", q="winter", dataset=misc),
        "search q=cat": listed("/api/search", q="cat"),
        "search q=cat dataset=pets": listed("/api/search", q="cat", dataset=pets),
        "search label=cat": listed("/api/search", label="cat"),
        "search unlabeled": listed("/api/search", unlabeled="true"),
        "datasets": sorted((d["id"], d["name"], d["item_count"]) for d in client.pages("/api/datasets")),
        "dataset pets": dataset(pets),
        "dataset misc": dataset(misc),
    }
    result["annotations"] = {
        i["id"]: client.call("GET", f"{item_path(i['dataset_id'], i['id'])}/annotations")["boxes"]
        for i in result["pets"] + result["misc"]
    }
    return result


def check_world(before: dict) -> None:
    """The recorded answers hold what `fill` made (so comparing them proves something)."""
    assert len(before["pets"]) == 4 and len(before["misc"]) == 1
    assert {i["filename"] for i in before["pets label=cat"]} == {"tabby cat.png", "field notes.txt"}
    assert [i["filename"] for i in before["pets unlabeled"]] == ["unsorted blob.png"]
    assert [i["filename"] for i in before["pets q=tag value"]] == ["tabby cat.png"]
    assert [i["filename"] for i in before["search q=winter dataset=misc"]] == ["zebra crossing.png"]
    assert len(before["search q=winter"]) == 2
    assert before["dataset pets"]["label_counts"] == {"cat": 2, "dog": 1}
    assert before["dataset misc"]["label_counts"] == {"road": 1}
    by_name = {i["filename"]: i for i in before["pets"] + before["misc"]}
    assert by_name["tabby cat.png"]["annotations"] == 2 and by_name["tabby cat.png"]["preview"] == (64, 48)
    assert by_name["field notes.txt"]["thumbnail"] is False and by_name["rex.png"]["thumbnail"] is True


# -- new apps over the same storage --------------------------------------------------------------------


@contextlib.contextmanager
def app_over(config: Config) -> Iterator[Stack]:
    """Edna over `config`, served on loopback; its tokens verify with the shared test key."""
    (config.data_dir / "keys").mkdir(parents=True, exist_ok=True)
    (config.data_dir / "keys" / "issuer.pem").write_bytes(issuer_pem())
    app = create_app(config)
    with serve(app) as base_url:
        yield Stack(config.storage, base_url, app, config)


def same_storage(stack: Stack, data_dir: Path) -> Config:
    """The stack's storage under a new data dir whose index does not exist yet."""
    if stack.store == "local":
        shutil.copytree(stack.config.data_dir / "blobs", data_dir / "blobs")
    assert not any((data_dir / name).exists() for name in INDEX_FILES)
    return stack.config.replace(data_dir=data_dir)


def assert_empty(stack: Stack, datasets: dict[str, str]) -> None:
    client = stack.client("admin")
    for dataset_id in datasets.values():
        assert list(client.pages(items_path(dataset_id))) == []
        assert client.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 0


def cli(*args: str, config: Config) -> subprocess.CompletedProcess:
    """`python -m service ...` in a subprocess, configured the way an operator would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDNA_")}
    if config.storage == "s3":
        env.update(
            {
                env_name("storage"): "s3",
                env_name("s3_bucket"): config.s3_bucket,
                env_name("s3_endpoint_url"): config.s3_endpoint_url,
            }
        )
    return subprocess.run(
        [sys.executable, "-m", "service", *args, "--data-dir", str(config.data_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_reindex_rebuilds_the_same_answers_from_storage_alone(stack, tmp_path_factory):
    datasets = fill(stack.client("admin"))
    before = answers(stack.client("viewer"), datasets)
    check_world(before)

    # The domain function, in a new app whose index starts empty.
    with app_over(same_storage(stack, tmp_path_factory.mktemp("rebuilt"))) as rebuilt:
        assert_empty(rebuilt, datasets)
        totals = rebuild(rebuilt.edna.indexer, rebuilt.edna.adapters.index)
        assert totals == {"tenants": 1, "items": 5, "forgotten": 0, "predictions": 0, "vectors": 0}
        assert answers(rebuilt.client("viewer"), datasets) == before
        # Reindexing again over a full index changes nothing.
        assert rebuild(rebuilt.edna.indexer, rebuilt.edna.adapters.index, TENANT)["forgotten"] == 0
        assert answers(rebuilt.client("viewer"), datasets) == before

    # The operator command. On the local store, the stack's own index files are deleted first.
    if stack.store == "local":
        for name in INDEX_FILES:
            (stack.config.data_dir / name).unlink(missing_ok=True)
        config = stack.config
    else:
        config = same_storage(stack, tmp_path_factory.mktemp("cli"))
    done = cli("reindex", config=config)
    assert done.returncode == 0, done.stderr
    assert "1 tenant(s), 5 items indexed, 0 stale entries forgotten" in done.stdout
    assert (config.data_dir / "index.db").exists()
    with app_over(config) as reindexed:
        assert answers(reindexed.client("viewer"), datasets) == before


def test_reindex_forgets_what_storage_no_longer_has(stack):
    client = stack.client("admin")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "sweep"})["id"]
    kept = client.upload(dataset_id, "kept.png", png(10, 10, "red"), "image/png")
    lost = client.upload(dataset_id, "lost.png", png(12, 12, "blue"), "image/png")
    pending = client.call(
        "POST", items_path(dataset_id), json={"filename": "later.png", "content_type": "image/png", "size": 9}
    )["item"]
    assert stack.edna.wait_for_thumbnails(30)  # else the worker's refresh may see the loss first
    # Deleted behind the index's back: no API call, no event.
    key = layout.item_object(TENANT, dataset_id, lost["id"], "lost.png")
    if stack.store == "s3":
        s3_client(stack.config.s3_endpoint_url).delete_object(Bucket=stack.config.s3_bucket, Key=key)
    else:
        blobs = stack.config.data_dir / "blobs"
        (blobs / "objects" / key).unlink()
        (blobs / "meta" / (key + ".json")).unlink()
    assert client.call("GET", item_path(dataset_id, lost["id"]))["status"] == "available"  # the index lags

    totals = rebuild(stack.edna.indexer, stack.edna.adapters.index)
    assert totals == {"tenants": 1, "items": 1, "forgotten": 1, "predictions": 0, "vectors": 0}
    assert status_of(client, item_path(dataset_id, lost["id"])) == 404
    assert [i["id"] for i in client.pages(items_path(dataset_id), status="available")] == [kept["id"]]
    dataset = client.call("GET", f"/api/datasets/{dataset_id}")
    assert dataset["item_count"] == 1 and dataset["bytes"] == kept["size"]
    # An upload still in flight has no object yet: a reindex keeps its ticket.
    assert client.call("GET", item_path(dataset_id, pending["id"]))["status"] == "pending"


# -- imports ------------------------------------------------------------------------------------------


def check_imported(client: EdnaClient, dataset_id: str, files: dict[str, bytes], sizes: dict[str, tuple]) -> None:
    """Every file is an available item, downloadable byte-identical, with a thumbnail if an image."""
    items = list(client.pages(items_path(dataset_id)))
    assert sorted(i["filename"] for i in items) == sorted(files)
    for item in items:
        assert item["status"] == "available", item
        assert item["created_by"] == "import"
        assert item["size"] == len(files[item["filename"]])
        assert requests.get(client.url(item["download_url"]), timeout=10).content == files[item["filename"]]
        expected = sizes.get(item["filename"])
        if expected:
            assert (item["preview"]["width"], item["preview"]["height"]) == expected
            thumbnail = requests.get(client.url(item["thumbnail_url"]), timeout=10)
            with Image.open(io.BytesIO(thumbnail.content)) as image:
                assert image.format == "WEBP"
        else:
            assert item["thumbnail_url"] is None and item["preview"] is None
    dataset = client.call("GET", f"/api/datasets/{dataset_id}")
    assert dataset["item_count"] == len(files) and dataset["bytes"] == sum(map(len, files.values()))


def test_import_prefix_from_a_local_directory(local_stack, tmp_path_factory):
    client = local_stack.client("admin")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "imported"})["id"]
    source = tmp_path_factory.mktemp("incoming")
    files = {
        "cat one.png": png(40, 20, "orange"),
        "dög.png": png(5, 50, "gray"),
        "readme.txt": b"three files and one bad name\n",
    }
    (source / "nested").mkdir()
    for name, data in files.items():
        (source / ("nested" if name == "dög.png" else "") / name).write_bytes(data)
    (source / " leading space.txt").write_bytes(b"refused")

    done = cli("import-prefix", "--dataset", dataset_id, str(source), config=local_stack.config)
    assert done.returncode == 0, done.stderr
    assert f"3 items imported into dataset {dataset_id} of tenant {TENANT}" in done.stdout
    skipped = [line for line in done.stderr.splitlines() if line.startswith("skipped")]
    assert skipped == ["skipped  leading space.txt: filename must not start or end with white space"]
    # The running server reads the index the command wrote.
    check_imported(client, dataset_id, files, {"cat one.png": (40, 20), "dög.png": (5, 50)})

    again = cli("import-prefix", "--dataset", dataset_id, str(source), config=local_stack.config)
    assert again.returncode == 0, again.stderr
    assert f"0 items imported into dataset {dataset_id} of tenant {TENANT} (3 imported before" in again.stdout
    assert len(list(client.pages(items_path(dataset_id)))) == 3

    missing = cli("import-prefix", "--dataset", "01zzzzzzzzzzzzzzzzzzzzzzzz", str(source), config=local_stack.config)
    assert missing.returncode == 2 and "no dataset" in missing.stderr


@pytest.fixture
def s3_stack(tmp_path: Path, moto_endpoint: str) -> Iterator[Stack]:
    with running_stack("s3", tmp_path, moto_endpoint) as stack:
        yield stack


def test_import_from_another_bucket(s3_stack, moto_endpoint):
    client = s3_stack.client("admin")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "from s3"})["id"]
    s3 = s3_client(moto_endpoint)
    source = f"edna-source-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=source)
    files = {
        "a.png": (png(33, 44, "green"), "image/png"),
        "deep/b c+d.png": (png(70, 7, "purple"), "image/png"),
        "notes.txt": (b"just text\n", "text/plain"),
        " leading.txt": (b"refused", "text/plain"),
        "folder/": (b"", "application/x-directory"),  # a console-made "folder": not an object to import
    }
    for name, (data, ctype) in files.items():
        s3.put_object(Bucket=source, Key=f"incoming/2024/{name}", Body=data, ContentType=ctype)
    s3.put_object(Bucket=source, Key="elsewhere/c.png", Body=png(3, 3, "red"), ContentType="image/png")

    indexer = s3_stack.edna.indexer
    totals = import_source(indexer, TENANT, dataset_id, f"s3://{source}/incoming/2024/")
    assert (totals["imported"], totals["already"]) == (3, 0)
    assert totals["skipped"] == [" leading.txt: filename must not start or end with white space"]
    make_previews(indexer, totals["images"], 2, lambda n: None)  # as the command does without a queue
    again = import_source(indexer, TENANT, dataset_id, f"s3://{source}/incoming/2024/")
    assert (again["imported"], again["already"], again["images"]) == (0, 3, [])
    imported = {"a.png": files["a.png"][0], "b c+d.png": files["deep/b c+d.png"][0], "notes.txt": b"just text\n"}
    check_imported(client, dataset_id, imported, {"a.png": (33, 44), "b c+d.png": (70, 7)})
    assert {i["created_by"] for i in client.pages(items_path(dataset_id))} == {"import"}
    # The copies live in the data bucket; the source is untouched.
    assert len(s3.list_objects_v2(Bucket=source)["Contents"]) == len(files) + 1
