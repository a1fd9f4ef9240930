"""Dataset snapshots over both blob stores: later relabels, re-annotations, overwrites and deletes
change neither a snapshot's export nor its downloads; diffs are exact; pages, deletes and refusals."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import STORES, running_stack, s3_client
from tally import raw

from service.vocabulary import layout
from service.vocabulary.ids import new_id

BOX = {"label": "cat", "x": 1, "y": 2, "w": 3, "h": 4}
FILES = {name: (f"{name}.txt", f"the original bytes of {name}".encode()) for name in "abcde"}


@pytest.fixture(scope="module", params=STORES)
def shelf(request, tmp_path_factory, moto_endpoint):
    """Snapshot `first` of items a..e; then a is overwritten, b relabelled, c re-annotated, d deleted
    and f added; snapshot `second` holds that state, which is also the dataset's current one."""
    with running_stack(request.param, tmp_path_factory.mktemp(f"snapshots-{request.param}"), moto_endpoint) as stack:
        editor = stack.client("editor")
        d = editor.call("POST", "/api/datasets", json={"name": "frozen", "label_classes": ["cat", "dog"]})["id"]
        ids = {name: editor.upload(d, filename, data, "text/plain")["id"] for name, (filename, data) in FILES.items()}
        for name in "bcd":
            editor.call("PUT", f"/api/datasets/{d}/items/{ids[name]}/label", json={"label": "cat"})
        editor.call("PUT", f"/api/datasets/{d}/items/{ids['e']}/tags", json={"tags": {"camera": "x1"}})
        editor.call("PUT", f"/api/datasets/{d}/items/{ids['c']}/annotations", json={"boxes": [BOX], "version": 0})
        first = editor.call("POST", f"/api/datasets/{d}/snapshots", json={"name": "before"})

        # A new version of a's object, as a stale signed URL could write it (the API never replaces one).
        stack.edna.blobs.put_bytes(layout.item_object("demo", d, ids["a"], "a.txt"), b"overwritten!", "text/plain")
        editor.call("PUT", f"/api/datasets/{d}/items/{ids['b']}/label", json={"label": "dog"})
        moved = {**BOX, "x": 5}
        editor.call("PUT", f"/api/datasets/{d}/items/{ids['c']}/annotations", json={"boxes": [moved], "version": 1})
        editor.call("DELETE", f"/api/datasets/{d}/items/{ids['d']}")
        ids["f"] = editor.upload(d, "f.txt", b"added later", "text/plain")["id"]
        second = editor.call("POST", f"/api/datasets/{d}/snapshots", json={})
        yield stack, d, ids, first, second


def base(d: str, snapshot: dict) -> str:
    return f"/api/datasets/{d}/snapshots/{snapshot['id']}"


def fetch(client, url: str) -> bytes:
    # moto checks a signed URL's `...content-disposition=` against the request's headers (meant for
    # signed PUTs) when the key's latest version is a delete marker; S3 ignores the header on a GET.
    query = parse_qs(urlsplit(url).query)
    headers = {"Content-Disposition": query["response-content-disposition"][0]} if query else {}
    response = requests.get(client.url(url), headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.content


def jsonl(client, path: str) -> dict[str, dict]:
    response = requests.get(client.url(path), params={"format": "jsonl"}, headers=auth(client), timeout=10)
    assert response.status_code == 200, response.text
    return {row["item_id"]: row for row in map(json.loads, response.text.splitlines())}


def auth(client) -> dict:
    return {"Authorization": f"Bearer {client.token}"}


def test_snapshots_are_created_listed_and_read(shelf):
    stack, d, _, first, second = shelf
    viewer = stack.client("viewer")
    assert first["item_count"] == 5 and first["name"] == "before" and first["created_by"] == "editor-demo"
    assert first["bytes"] == sum(len(data) for _, data in FILES.values())
    assert second["item_count"] == 5 and second["name"].startswith("frozen ")
    assert viewer.call("GET", base(d, first)) == first
    listed = [s["id"] for s in viewer.pages(f"/api/datasets/{d}/snapshots", limit=1)]
    assert listed[:2] == [first["id"], second["id"]]


def test_later_changes_leave_the_snapshot_export_and_downloads_as_they_were(shelf):
    stack, d, ids, first, _ = shelf
    viewer = stack.client("viewer")
    rows = jsonl(viewer, base(d, first) + "/export")
    assert sorted(rows) == sorted(ids[n] for n in "abcde")
    by_name = {row["filename"][0]: row for row in rows.values()}
    assert {n: r["label"] for n, r in by_name.items()} == {"a": None, "b": "cat", "c": "cat", "d": "cat", "e": None}
    assert by_name["c"]["boxes"] == [BOX] and by_name["e"]["tags"] == {"camera": "x1"}
    for name, (_, data) in FILES.items():
        assert fetch(viewer, by_name[name]["url"]) == data, name  # a overwritten, d deleted since
        response = raw(stack, "GET", f"{base(d, first)}/items/{ids[name]}/download", viewer.token)
        assert response.status_code == 302 and fetch(viewer, response.headers["Location"]) == data
    # CSV and COCO come from the same manifest.
    text = requests.get(
        viewer.url(base(d, first) + "/export"), params={"format": "csv"}, headers=auth(viewer), timeout=10
    ).text
    labels = {r["item_id"]: r["label"] for r in csv.DictReader(io.StringIO(text))}
    assert labels[ids["b"]] == "cat" and labels[ids["a"]] == ""
    coco = viewer.call("GET", base(d, first) + "/export", params={"format": "coco"})
    assert len(coco["images"]) == 5 and [a["bbox"] for a in coco["annotations"]] == [[1, 2, 3, 4]]
    # The dataset itself moved on: the later snapshot has the new bytes and labels.
    now = {r["filename"][0]: r for r in jsonl(viewer, f"{base(d, shelf[4])}/export").values()}
    assert fetch(viewer, now["a"]["url"]) == b"overwritten!" and now["b"]["label"] == "dog" and "d" not in now


def test_snapshot_items_page_by_page(shelf):
    stack, d, ids, first, _ = shelf
    viewer = stack.client("viewer")
    items = list(viewer.pages(base(d, first) + "/items", limit=2))
    assert [i["id"] for i in items] == sorted(ids[n] for n in "abcde")
    item = next(i for i in items if i["id"] == ids["e"])
    assert item["filename"] == "e.txt" and item["size"] == len(FILES["e"][1]) and item["tags"] == {"camera": "x1"}
    assert item["content_type"] == "text/plain" and fetch(viewer, item["download_url"]) == FILES["e"][1]


def diff(client, d: str, snapshot: dict, against: str, limit: int = 1000) -> dict:
    """Every page of the diff, merged."""
    merged = {"added": [], "removed": [], "relabelled": [], "reannotated": []}
    params = {"against": against, "limit": limit}
    while True:
        body = client.call("GET", base(d, snapshot) + "/diff", params=params)
        assert len({i for key in merged for i in body[key]}) <= limit
        for key in merged:
            merged[key] += body[key]
        if not body["next_cursor"]:
            return merged
        params["cursor"] = body["next_cursor"]


def test_diffs_are_exact_between_snapshots_and_against_now(shelf):
    stack, d, ids, first, second = shelf
    viewer = stack.client("viewer")
    expected = {"added": [ids["f"]], "removed": [ids["d"]], "relabelled": [ids["b"]], "reannotated": [ids["c"]]}
    assert diff(viewer, d, first, second["id"]) == expected
    assert diff(viewer, d, first, "current") == expected
    assert diff(viewer, d, first, "current", limit=1) == expected
    backwards = {**expected, "added": [ids["d"]], "removed": [ids["f"]]}
    assert diff(viewer, d, second, first["id"], limit=1) == backwards
    assert diff(viewer, d, second, "current") == {"added": [], "removed": [], "relabelled": [], "reannotated": []}
    assert diff(viewer, d, first, first["id"]) == {"added": [], "removed": [], "relabelled": [], "reannotated": []}


def test_a_version_storage_no_longer_keeps_answers_410(shelf):
    stack, d, *_ = shelf
    editor = stack.client("editor")
    item = editor.upload(d, "g.txt", b"short-lived", "text/plain")
    snapshot = editor.call("POST", f"/api/datasets/{d}/snapshots", json={"name": "expiring"})
    key = layout.item_object("demo", d, item["id"], "g.txt")
    version = stack.edna.snapshots.row("demo", stack.edna.snapshots.get("demo", d, snapshot["id"]), item["id"])
    if stack.store == "s3":  # what the bucket's lifecycle rule does to a noncurrent version
        s3_client(stack.config.s3_endpoint_url).delete_object(
            Bucket=stack.config.s3_bucket, Key=key, VersionId=version["version"]
        )
    else:
        (stack.edna.blobs.pins / version["version"]).unlink()
    response = raw(stack, "GET", f"{base(d, snapshot)}/items/{item['id']}/download", editor.token)
    assert response.status_code == 410 and "lifecycle" in response.json()["message"]
    editor.call("DELETE", f"/api/datasets/{d}/items/{item['id']}")
    stack.client("admin").call("DELETE", base(d, snapshot))


def test_deleting_a_snapshot_lets_go_of_its_versions(shelf):
    stack, d, *_ = shelf
    editor, admin = stack.client("editor"), stack.client("admin")
    snapshot = editor.call("POST", f"/api/datasets/{d}/snapshots", json={"name": "doomed"})
    assert raw(stack, "DELETE", base(d, snapshot), editor.token).status_code == 403
    assert raw(stack, "DELETE", base(d, snapshot), admin.token).status_code == 204
    assert raw(stack, "GET", base(d, snapshot), admin.token).status_code == 404
    assert snapshot["id"] not in [s["id"] for s in admin.pages(f"/api/datasets/{d}/snapshots")]
    prefix = layout.snapshot_prefix("demo", d, snapshot["id"])
    assert list(stack.edna.blobs.iter_objects(prefix)) == []
    if stack.store == "local":
        assert not (stack.edna.blobs.pins / prefix).exists()


def test_refusals(shelf):
    stack, d, ids, first, _ = shelf
    viewer, other = stack.client("viewer"), stack.client("admin", "acme")
    path = base(d, first)
    cases = [
        ("POST", f"/api/datasets/{d}/snapshots", viewer.token, {"json": {}}, 403),
        ("POST", f"/api/datasets/{d}/snapshots", viewer.token.replace(".", "x", 1), {"json": {}}, 401),
        ("POST", f"/api/datasets/{d}/snapshots", stack.token("e2", "demo", "editor"), {"json": {"name": ""}}, 422),
        ("GET", path, other.token, {}, 404),
        ("GET", f"/api/datasets/{d}/snapshots/{new_id()}", viewer.token, {}, 404),
        ("GET", f"/api/datasets/{d}/snapshots/not-an-id", viewer.token, {}, 404),
        ("GET", path + "/items", viewer.token, {"params": {"cursor": "!!"}}, 400),
        ("GET", path + "/items", viewer.token, {"params": {"limit": 0}}, 422),
        ("GET", path + "/diff", viewer.token, {"params": {"against": "current", "cursor": "e30"}}, 400),
        ("GET", path + "/diff", viewer.token, {"params": {"against": new_id()}}, 404),
        ("GET", path + "/diff", viewer.token, {"params": {"against": ""}}, 422),
        ("GET", path + "/export", viewer.token, {"params": {"format": "xml"}}, 422),
        ("GET", path + f"/items/{new_id()}/download", viewer.token, {}, 404),
        ("GET", path + f"/items/{ids['a']}/download", other.token, {}, 404),
        ("DELETE", path, other.token, {}, 404),
    ]
    for method, url, token, kwargs, status in cases:
        response = raw(stack, method, url, token, **kwargs)
        assert response.status_code == status, (method, url, kwargs, response.text)
        assert response.json()["message"]
