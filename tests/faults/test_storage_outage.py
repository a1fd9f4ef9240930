"""Storage refusing writes (a full or failing disk, an S3 outage) under the real app, index and HTTP.

Every mutation answers 503 with a message saying storage is unavailable, and nothing is half
written. Precisely, once storage is back:
- create dataset: no dataset record in storage, none listed;
- request upload (multipart, the one kind that writes to storage when requested): no pending item;
- send to a signed URL (local store): no object, the item stays pending and `complete` says 409;
- complete: the item stays pending (never available without its thumbnail and checks), then completes;
- label, tags: the object's tags in storage and the index's record both unchanged;
- annotations: the stored document, its version and the index's count unchanged;
- delete item / dataset: storage and index still agree item by item (the index holds no item
  whose object is gone, and lists every item whose object is still there), and a retry finishes it.
"""

from __future__ import annotations

import builtins
import errno
import io
import itertools
import json
import os
import threading
from pathlib import Path

import pytest
import requests
from conftest import issuer_pem, make_config, serve
from PIL import Image

from service import create_app
from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.identity import Member
from service.bootstrap import build_adapters
from service.client import ApiError, EdnaClient
from service.settings import MiB
from service.vocabulary import layout
from tests.api.digits import delete_dataset

TENANT = "demo"


class Disk:
    """The local blob store's disk: while `failing`, every file write, rename and delete under it fails
    with EIO, after the first `allow` of them (an outage that starts in the middle of a request)."""

    def __init__(self, root: Path):
        self.root = str(root.resolve()) + os.sep
        self.failing = False
        self.allow = 0
        self._lock = threading.Lock()

    def check(self, path) -> None:
        name = os.path.abspath(os.fspath(path))
        if not self.failing or not name.startswith(self.root) or name.startswith(self.root + "locks" + os.sep):
            return
        with self._lock:
            if self.allow > 0:
                self.allow -= 1
                return
        raise OSError(errno.EIO, "Input/output error (injected)", name)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_open, real_replace, real_unlink = builtins.open, os.replace, os.unlink

        def open_(file, mode="r", *args, **kwargs):
            if isinstance(file, str | os.PathLike) and any(c in mode for c in "wax+"):
                self.check(file)
            return real_open(file, mode, *args, **kwargs)

        def replace(src, dst, *args, **kwargs):
            self.check(dst)
            return real_replace(src, dst, *args, **kwargs)

        def unlink(path, *args, **kwargs):
            if not os.fspath(path).startswith(self.root + "tmp"):  # cleanup of temp files is not the outage
                self.check(path)
            return real_unlink(path, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "unlink", unlink)


def png(n: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16 + n, 16), (n * 40 % 256, 80, 160)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The app over the real local store on a failing disk, real SQLite index, over HTTP: (client, store, disk)."""
    config = make_config("local", tmp_path, multipart_threshold=1 * MiB)
    (tmp_path / "keys").mkdir(parents=True, exist_ok=True)
    (tmp_path / "keys" / "issuer.pem").write_bytes(issuer_pem())
    adapters = build_adapters(config)
    disk = Disk(tmp_path / "blobs")
    disk.install(monkeypatch)
    app = create_app(config, adapters)
    try:
        with serve(app) as base_url:
            adapters.users.admit(Member("ed", TENANT, "admin"))  # the verifier checks the member directory
            token = adapters.issuer.issue(Member("ed", TENANT, "admin"))["access_token"]
            yield EdnaClient(base_url, token), adapters.blobs, disk
    finally:
        app.extensions["edna"].close()


def refused(call) -> str:
    """The call answers 503 with a message naming storage; returns the message."""
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status == 503, caught.value.body
    body = caught.value.body
    message = (json.loads(body) if isinstance(body, str) else body)["message"]  # transfers keep the raw text
    assert "storage" in message.lower(), message
    return message


def listed(client: EdnaClient, dataset_id: str) -> dict[str, dict]:
    return {i["id"]: i for i in client.pages(f"/api/datasets/{dataset_id}/items")}


def agree(client: EdnaClient, store: LocalBlobStore, dataset_id: str) -> dict[str, dict]:
    """The index lists exactly the items whose object is in storage, each with the stored bytes' size."""
    index = {i: item for i, item in listed(client, dataset_id).items() if item["status"] == "available"}
    stored = {
        layout.parse_item(o.key).item_id: o
        for o in store.iter_objects(layout.items_prefix(TENANT, dataset_id))
        if layout.parse_item(o.key) and layout.parse_item(o.key).filename
    }
    assert set(index) == set(stored), (sorted(index), sorted(stored))
    for item_id, item in index.items():
        assert item["size"] == stored[item_id].size
        assert requests.get(client.url(item["download_url"]), timeout=10).status_code == 200
    return {item_id: unsigned(item) for item_id, item in index.items()}


def unsigned(item: dict) -> dict:
    """The item without its signed links, which change with the second they were signed in."""
    kept = {k: v for k, v in item.items() if not k.endswith("_url")}
    if isinstance(item.get("preview"), dict):
        kept["preview"] = unsigned(item["preview"])
    return kept


def outage(disk: Disk, allow: int = 0):
    disk.failing, disk.allow = True, allow


def back(disk: Disk) -> None:
    disk.failing, disk.allow = False, 0


def test_mutations_answer_503_and_write_nothing_half(world):
    client, store, disk = world
    dataset_id = client.call("POST", "/api/datasets", json={"name": "kept", "label_classes": ["cat", "dog"]})["id"]
    items = [client.upload(dataset_id, f"img-{n}.png", png(n), "image/png") for n in range(4)]
    base = f"/api/datasets/{dataset_id}"
    first = f"{base}/items/{items[0]['id']}"
    client.call("PUT", f"{first}/label", json={"label": "cat"})
    client.call("PUT", f"{first}/tags", json={"tags": {"site": "north"}})
    box = {"label": "cat", "x": 1, "y": 1, "w": 2, "h": 2}
    client.call("PUT", f"{first}/annotations", json={"boxes": [box], "version": 0})
    before = agree(client, store, dataset_id)
    tags_before = store.get_tags(layout.item_object(TENANT, dataset_id, items[0]["id"], "img-0.png"))

    outage(disk)
    # create dataset
    refused(lambda: client.call("POST", "/api/datasets", json={"name": "lost"}))
    # request a multipart upload
    big = {"filename": "big.bin", "content_type": "application/octet-stream", "size": 3 * MiB}
    refused(lambda: client.call("POST", f"{base}/items", json=big))
    # label, tags, annotations
    refused(lambda: client.call("PUT", f"{first}/label", json={"label": "dog"}))
    refused(lambda: client.call("PUT", f"{first}/tags", json={"tags": {"site": "south"}}))
    refused(lambda: client.call("PUT", f"{first}/annotations", json={"boxes": [box, box], "version": 1}))
    # delete an item, a dataset
    refused(lambda: client.call("DELETE", f"{base}/items/{items[1]['id']}"))
    refused(lambda: client.call("DELETE", base))
    # a single-PUT upload: requesting it writes nothing to storage; the transfer is what fails
    data = png(9)
    ticket = client.call(
        "POST", f"{base}/items", json={"filename": "late.png", "content_type": "image/png", "size": len(data)}
    )
    refused(lambda: client.transfer(ticket["upload"], data, "image/png"))
    back(disk)

    assert [d["name"] for d in client.pages("/api/datasets")] == ["kept"]
    assert store.list_page(layout.datasets_prefix(TENANT), delimiter="/").prefixes == [
        layout.dataset_prefix(TENANT, dataset_id)
    ]
    now = agree(client, store, dataset_id)
    assert now == before, "label, tags, annotations and deletes left no trace"
    assert store.get_tags(layout.item_object(TENANT, dataset_id, items[0]["id"], "img-0.png")) == tags_before
    assert client.call("GET", f"{first}/annotations")["version"] == 1
    pending = [i for i in listed(client, dataset_id).values() if i["status"] == "pending"]
    assert [i["filename"] for i in pending] == ["late.png"], "no pending item for the refused multipart request"
    late = f"{base}/items/{ticket['item']['id']}"
    with pytest.raises(ApiError) as caught:
        client.call("POST", f"{late}/complete", json={})
    assert caught.value.status == 409

    # complete while storage fails (the thumbnail cannot be written): the item stays pending
    client.transfer(ticket["upload"], data, "image/png")
    outage(disk)
    refused(lambda: client.call("POST", f"{late}/complete", json={}))
    back(disk)
    assert client.call("GET", late)["status"] in ("pending", "available")  # the write event may have indexed it
    assert client.call("POST", f"{late}/complete", json={})["status"] == "available"

    # an outage that starts in the middle of a delete: storage and index still agree, a retry finishes it
    victim = f"{base}/items/{items[2]['id']}"
    for allow in itertools.count():
        outage(disk, allow=allow)
        try:
            client.call("DELETE", victim)
            back(disk)
            break
        except ApiError as exc:
            back(disk)
            if exc.status == 404:
                break  # an earlier attempt removed the object: the item is gone (its sidecars may stay behind)
            assert exc.status == 503, exc.body
            agree(client, store, dataset_id)
    assert items[2]["id"] not in agree(client, store, dataset_id)
    outage(disk, allow=2)
    refused(lambda: client.call("DELETE", base))
    back(disk)
    remaining = agree(client, store, dataset_id)
    assert client.call("GET", base)["item_count"] == len(remaining)
    delete_dataset(client, dataset_id)
    assert list(client.pages("/api/datasets")) == []
    assert store.list_page(layout.TENANTS + TENANT + "/datasets/").objects == []
