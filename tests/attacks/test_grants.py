"""A grant is only good for the state it was made for: replayed upload URLs against a running server.

The local store spends an upload URL on its first write and never writes over an object: a replay
answers 409. S3 cannot revoke a pre-signed URL before it expires (README): its PUT URLs carry a
signed `If-None-Match: *`, so a replay over an object answers 412, but a replay after a delete lands.
The running server hears no S3 events here (the event path is tests/api/test_events.py), so on S3
these tests check that nothing the API shows, counts or meters ever includes the landed object, and
that `reindex`, which reads storage alone, discards it instead of bringing the item back.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
import requests
from attack_harness import Target, started
from conftest import s3_client
from PIL import Image
from real_server import cli

from service.client import ApiError, EdnaClient
from service.vocabulary import layout
from tests.api.digits import delete_dataset

pytest_plugins = ["attack_harness"]

REFUSED = {"local": 409, "s3": 412}  # a replay over a stored object


def png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(out, format="PNG")
    return out.getvalue()


def swapped(data: bytes) -> bytes:
    """Other bytes of the same size: the replay passes every size check the URL was signed with."""
    return data[::-1]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def items_path(dataset_id: str) -> str:
    return f"/api/datasets/{dataset_id}/items"


def upload_keeping_url(client: EdnaClient, dataset_id: str, filename: str, data: bytes) -> tuple[dict, dict]:
    """Request, transfer, complete, as a client does; the upload object is kept for a replay."""
    body = {"filename": filename, "content_type": "image/png", "size": len(data)}
    ticket = client.call("POST", items_path(dataset_id), json=body)
    client.transfer(ticket["upload"], data, "image/png")
    item = client.call("POST", f"{items_path(dataset_id)}/{ticket['item']['id']}/complete", json={})
    return item, ticket["upload"]


def replay(client: EdnaClient, upload: dict, data: bytes) -> int:
    """The attacker sends new bytes to an old upload URL, with the headers it names."""
    return requests.put(client.url(upload["url"]), data=data, headers=upload["headers"], timeout=30).status_code


def stored(target: Target, key: str) -> bytes | None:
    """An object's bytes read from storage itself, behind the API's back."""
    if target.store == "local":
        path = target.data_dir / "blobs" / "objects" / key
        return path.read_bytes() if path.is_file() else None
    try:
        return s3_client(target.moto_endpoint).get_object(Bucket=target.bucket, Key=key)["Body"].read()
    except s3_client(target.moto_endpoint).exceptions.NoSuchKey:
        return None


def status(client: EdnaClient, method: str, path: str, **kwargs) -> int:
    try:
        client.call(method, path, **kwargs)
    except ApiError as exc:
        return exc.status
    return 200


def reindex(target: Target) -> None:
    """An operator's rebuild from storage alone, while the server runs."""
    cli(target.data_dir, "reindex", env=target.env)


@pytest.mark.parametrize("deleted", ["item", "dataset"])
def test_a_replayed_upload_url_never_brings_a_deleted_item_back(target, deleted):
    tenant = target.tenant(max_items=40)
    editor, admin = tenant.clients["editor"], tenant.clients["admin"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "victim"})["id"]
    kept = editor.upload(dataset_id, "kept.png", png("green"), "image/png")
    ghost, upload = upload_keeping_url(editor, dataset_id, "ghost.png", png())
    key = layout.item_object(tenant.name, dataset_id, ghost["id"], "ghost.png")
    if deleted == "item":
        editor.call("DELETE", f"{items_path(dataset_id)}/{ghost['id']}")
    else:
        delete_dataset(admin, dataset_id)

    answer = replay(editor, upload, swapped(png()))

    if target.store == "local":
        assert answer == 409  # the URL was spent by its first write
        assert stored(target, key) is None
    else:
        assert answer == 200  # S3 cannot revoke the URL: what keeps it out is below
    ghost_path = f"{items_path(dataset_id)}/{ghost['id']}"
    assert status(editor, "POST", f"{ghost_path}/complete", json={}) == 404
    assert status(editor, "GET", ghost_path) == 404
    assert list(editor.pages("/api/search", q="ghost")) == []
    if deleted == "item":
        assert [i["id"] for i in editor.pages(items_path(dataset_id))] == [kept["id"]]
        assert editor.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 1
    else:
        assert status(editor, "GET", f"/api/datasets/{dataset_id}") == 404
    assert admin.call("GET", "/api/usage")["stored"]["items"] == (1 if deleted == "item" else 0)

    reindex(target)  # storage is the truth: the rebuild discards the object and keeps the item gone

    assert stored(target, key) is None
    assert status(editor, "GET", ghost_path) == 404
    assert list(editor.pages("/api/search", q="ghost")) == []
    assert admin.call("GET", "/api/usage")["stored"]["items"] == (1 if deleted == "item" else 0)
    assert replay(editor, upload, swapped(png())) == (409 if target.store == "local" else 200)
    reindex(target)  # the tombstone (or the dataset's absence) outlives any number of replays
    assert stored(target, key) is None


def test_replays_cannot_push_a_tenant_past_its_item_quota(target):
    tenant = target.tenant(max_items=2)
    editor, admin = tenant.clients["editor"], tenant.clients["admin"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "quota"})["id"]
    old = [upload_keeping_url(editor, dataset_id, f"old-{n}.png", png()) for n in range(2)]
    for item, _ in old:
        editor.call("DELETE", f"{items_path(dataset_id)}/{item['id']}")
    for n in range(2):
        editor.upload(dataset_id, f"new-{n}.png", png("green"), "image/png")  # the tenant is at its quota

    for _, upload in old:
        assert replay(editor, upload, swapped(png())) == (409 if target.store == "local" else 200)
    reindex(target)

    assert sorted(i["filename"] for i in editor.pages(items_path(dataset_id))) == ["new-0.png", "new-1.png"]
    assert admin.call("GET", "/api/usage")["stored"]["items"] == 2
    body = {"filename": "more.png", "content_type": "image/png", "size": 10}
    assert status(editor, "POST", items_path(dataset_id), json=body) != 201  # still at 2 of 2


def test_a_replayed_upload_url_cannot_change_a_completed_item(target):
    tenant = target.tenant()
    editor = tenant.clients["editor"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "kept"})["id"]
    item, upload = upload_keeping_url(editor, dataset_id, "cat.png", png())

    assert replay(editor, upload, swapped(png())) == REFUSED[target.store]

    item = editor.call("GET", f"{items_path(dataset_id)}/{item['id']}")
    assert sha256(requests.get(editor.url(item["download_url"]), timeout=30).content) == sha256(png())


def test_a_replayed_model_url_cannot_swap_the_checked_file(target):
    from service.demo import CLASSES, DIGITS_INPUT, digit_models

    tenant = target.tenant()
    editor = tenant.clients["editor"]
    checked = next(iter(dict(digit_models()).values()))
    body = {"name": "m", "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(checked)}
    ticket = editor.call("POST", "/api/models", json=body)
    editor.transfer(ticket["upload"], checked, "application/octet-stream")
    model_id = ticket["model"]["id"]
    assert editor.call("POST", f"/api/models/{model_id}/complete", json={})["status"] == "available"

    unchecked = b"\x00" * len(checked)
    assert replay(editor, ticket["upload"], unchecked) == REFUSED[target.store]

    assert sha256(stored(target, layout.model_file(tenant.name, model_id))) == sha256(checked)


def test_signed_downloads_are_private_to_caches(target):
    editor = target.tenant().clients["editor"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "cache"})["id"]
    item = editor.upload(dataset_id, "cat.png", png(), "image/png")

    for url in (item["download_url"], item["thumbnail_url"]):
        if url:
            cache = requests.get(editor.url(url), timeout=30).headers["Cache-Control"]
            assert "private" in cache and "public" not in cache


def modes(root: Path) -> dict[str, int]:
    """Permission bits of the data dir and everything in it, by path relative to it."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            if not path.is_symlink():
                found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_the_data_dir_is_the_server_users_alone(target):
    tenant = target.tenant()  # identity.db, keys, sign-ins
    editor = tenant.clients["editor"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "private"})["id"]
    editor.upload(dataset_id, "cat.png", png(), "image/png")  # objects, index, usage, audit
    tenant.clients["admin"].call("GET", "/api/usage")

    found = modes(target.data_dir)

    assert {"identity.db", "index.db"} <= set(found)
    if target.store == "local":
        assert any(p.startswith("blobs/objects/") for p in found)
    loose = {p: oct(m) for p, m in found.items() if m & 0o077}
    assert loose == {}
    assert found["."] == 0o700


def test_an_older_world_readable_data_dir_is_tightened_at_start(tmp_path, moto_endpoint):
    data_dir = tmp_path / "data"
    (data_dir / "keys").mkdir(parents=True, mode=0o755)
    (data_dir / "keys" / "old.pem").write_bytes(b"secret")
    os.chmod(data_dir / "keys" / "old.pem", 0o644)
    os.chmod(data_dir, 0o755)  # noqa: S103 - a data dir as older versions left it

    with started("local", data_dir, moto_endpoint) as target:
        assert target.anonymous().call("GET", "/api/health") is not None
        found = modes(data_dir)

    assert (found["."], found["keys"], found["keys/old.pem"]) == (0o700, 0o700, 0o600)
