"""Annotations, thumbnails, search and export over both blob stores."""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from service.client import ApiError


def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(stack):
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "zoo", "label_classes": ["cat", "dog"]})
    d = dataset["id"]
    items = {
        "cat": editor.upload(d, "tabby-cat.png", png(640, 480), "image/png"),
        "dog": editor.upload(d, "good dog.png", png(100, 300, (0, 0, 255)), "image/png"),
        "text": editor.upload(d, "notes.txt", b"hello", "text/plain"),
        "broken": editor.upload(d, "broken.png", b"\x89PNG not really", "image/png"),
    }
    labeler = stack.client("labeler")
    labeler.call("PUT", f"/api/datasets/{d}/items/{items['cat']['id']}/label", json={"label": "cat"})
    labeler.call("PUT", f"/api/datasets/{d}/items/{items['dog']['id']}/label", json={"label": "dog"})
    labeler.call("PUT", f"/api/datasets/{d}/items/{items['dog']['id']}/tags", json={"tags": {"camera": "nikon-d5"}})
    assert stack.edna.wait_for_thumbnails(30)  # made off the request path, by the service's thumbnail worker
    return stack, labeler, d, items


def annotations_path(d: str, item_id: str) -> str:
    return f"/api/datasets/{d}/items/{item_id}/annotations"


def test_thumbnails_for_images_only(world):
    _stack, labeler, d, items = world
    cat = labeler.call("GET", f"/api/datasets/{d}/items/{items['cat']['id']}")
    assert cat["preview"]["width"] == 640 and cat["preview"]["height"] == 480
    thumb = requests.get(labeler.url(cat["thumbnail_url"]), timeout=10)
    image = Image.open(io.BytesIO(thumb.content))
    assert image.format == "WEBP" and max(image.size) == 256 and image.size == (256, 192)
    dog = labeler.call("GET", f"/api/datasets/{d}/items/{items['dog']['id']}")
    assert Image.open(io.BytesIO(requests.get(labeler.url(dog["thumbnail_url"]), timeout=10).content)).size == (85, 256)
    for name in ("text", "broken"):
        item = labeler.call("GET", f"/api/datasets/{d}/items/{items[name]['id']}")
        assert item["status"] == "available" and item["preview"] is None and item["thumbnail_url"] is None


def test_annotations_versions_and_conflicts(world):
    _stack, labeler, d, items = world
    path = annotations_path(d, items["cat"]["id"])
    assert labeler.call("GET", path)["version"] == 0 and labeler.call("GET", path)["boxes"] == []
    box = {"label": "cat", "x": 10, "y": 20, "w": 100, "h": 50}
    first = labeler.call("PUT", path, json={"boxes": [box], "version": 0})
    assert first["version"] == 1 and first["updated_by"] == "labeler-demo"
    with pytest.raises(ApiError) as err:
        labeler.call("PUT", path, json={"boxes": [], "version": 0})
    assert err.value.status == 409 and "version 1" in err.value.body["message"]
    second = labeler.call("PUT", path, json={"boxes": [box, box]}, headers={"If-Match": '"1"'})
    assert second["version"] == 2
    assert labeler.call("GET", f"/api/datasets/{d}/items/{items['cat']['id']}")["annotations"] == 2
    resp = requests.get(labeler.url(path), headers={"Authorization": f"Bearer {labeler.token}"}, timeout=10)
    assert resp.headers["ETag"] == '"2"'


def test_concurrent_annotators_one_wins(world):
    """Two labelers save on top of the same version at once: exactly one wins, the other gets 409."""
    stack, labeler, d, items = world
    path = annotations_path(d, items["dog"]["id"])
    other = stack.client("labeler", user="second-labeler")
    for version in range(4):

        def write(client, version=version):
            box = {"label": "dog", "x": 0, "y": 0, "w": 5, "h": 5}
            try:
                client.call("PUT", path, json={"boxes": [box], "version": version})
            except ApiError as exc:
                return exc.status
            return 200

        with ThreadPoolExecutor(2) as pool:
            assert sorted(pool.map(write, [labeler, other])) == [200, 409]
        assert labeler.call("GET", path)["version"] == version + 1


@pytest.mark.parametrize(
    ("box", "needle"),
    [
        ({"label": "cat", "x": 600, "y": 0, "w": 100, "h": 10}, "outside"),
        ({"label": "cat", "x": -1, "y": 0, "w": 1, "h": 1}, ">= 0"),
        ({"label": "cat", "x": 0, "y": 0, "w": 0, "h": 1}, "> 0"),
        ({"label": "horse", "x": 0, "y": 0, "w": 1, "h": 1}, "not one of"),
    ],
)
def test_bad_boxes_are_refused(world, box, needle):
    _stack, labeler, d, items = world
    path = annotations_path(d, items["cat"]["id"])
    with pytest.raises(ApiError) as err:
        labeler.call("PUT", path, json={"boxes": [box], "version": 0})
    assert err.value.status == 400 and needle in err.value.body["message"]
    with pytest.raises(ApiError) as err:
        labeler.call("PUT", path, json={"boxes": []})  # no version, no If-Match
    assert err.value.status == 400
    for bad in ({"boxes": [{"label": "cat"}]}, {"boxes": "x", "version": 0}, {"boxes": [], "version": -1}):
        with pytest.raises(ApiError) as err:
            labeler.call("PUT", path, json=bad)
        assert err.value.status == 422
    assert labeler.call("GET", path)["version"] == 0


def ids(pages) -> list[str]:
    return [i["id"] for i in pages]


def test_search_by_label_tag_filename(world):
    stack, labeler, d, items = world
    other = stack.client("editor").call("POST", "/api/datasets", json={"name": "other"})
    far = stack.client("editor").upload(other["id"], "cat-photo.jpg", b"jpg", "image/jpeg")
    assert ids(labeler.pages("/api/search", q="cat")) == [items["cat"]["id"], far["id"]]
    assert ids(labeler.pages("/api/search", q="cat", dataset=d)) == [items["cat"]["id"]]
    assert ids(labeler.pages("/api/search", q="nikon")) == [items["dog"]["id"]]  # tag value
    assert ids(labeler.pages("/api/search", q="nik")) == [items["dog"]["id"]]  # prefix of the last word
    assert ids(labeler.pages("/api/search", q="good dog")) == [items["dog"]["id"]]
    assert ids(labeler.pages("/api/search", q="notes")) == [items["text"]["id"]]
    assert ids(labeler.pages("/api/search", label="dog")) == [items["dog"]["id"]]
    assert ids(labeler.pages("/api/search", content_type="text/plain")) == [items["text"]["id"]]
    assert set(ids(labeler.pages("/api/search", unlabeled="true"))) == {
        items["text"]["id"],
        items["broken"]["id"],
        far["id"],
    }
    assert ids(labeler.pages("/api/search", q="...")) == []
    assert ids(stack.client("admin", "acme").pages("/api/search", q="cat")) == []  # another tenant sees nothing
    assert ids(labeler.pages(f"/api/datasets/{d}/items", q="tabby")) == [items["cat"]["id"]]


def test_search_pages_are_stable_under_inserts(world):
    stack, labeler, d, items = world
    editor = stack.client("editor")
    first = labeler.call("GET", "/api/search", params={"limit": 2})
    editor.upload(d, "new.png", png(4, 4), "image/png")
    rest = list(labeler.pages("/api/search", cursor=first["next_cursor"]))
    seen = ids(first["items"]) + ids(rest)
    assert len(seen) == len(set(seen)) == 5 and seen[:4] == sorted(i["id"] for i in items.values())


def test_export_csv_jsonl_coco(world):
    _stack, labeler, d, items = world
    labeler.call(
        "PUT",
        annotations_path(d, items["cat"]["id"]),
        json={
            "boxes": [
                {"label": "cat", "x": 1, "y": 2, "w": 30, "h": 40},
                {"label": "dog", "x": 0, "y": 0, "w": 5, "h": 5},
            ]
        },
        headers={"If-Match": "0"},
    )
    headers = {"Authorization": f"Bearer {labeler.token}"}
    url = labeler.url(f"/api/datasets/{d}/export")

    rows = list(
        csv.DictReader(io.StringIO(requests.get(url, params={"format": "csv"}, headers=headers, timeout=10).text))
    )
    assert {r["item_id"] for r in rows} == {i["id"] for i in items.values()}
    by_id = {r["item_id"]: r for r in rows}
    assert by_id[items["cat"]["id"]]["label"] == "cat" and by_id[items["text"]["id"]]["label"] == ""
    assert len(json.loads(by_id[items["cat"]["id"]]["boxes"])) == 2
    assert requests.get(labeler.url(by_id[items["text"]["id"]]["url"]), timeout=10).content == b"hello"

    resp = requests.get(url, params={"format": "jsonl"}, headers=headers, timeout=10)
    assert resp.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert {line["item_id"] for line in lines} == set(by_id) and all(
        {"filename", "label", "url"} <= set(x) for x in lines
    )

    coco = requests.get(url, params={"format": "coco"}, headers=headers, timeout=10).json()
    image_ids = {image["id"] for image in coco["images"]}
    assert len(image_ids) == 4 and len(coco["annotations"]) == 2
    assert coco["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    category_ids = {c["id"] for c in coco["categories"]}
    for annotation in coco["annotations"]:
        assert annotation["image_id"] in image_ids and annotation["category_id"] in category_ids
        assert annotation["area"] == annotation["bbox"][2] * annotation["bbox"][3]
    cat_image = next(i for i in coco["images"] if i["edna_item_id"] == items["cat"]["id"])
    assert (cat_image["width"], cat_image["height"]) == (640, 480)

    bad = requests.get(url, params={"format": "xml"}, headers=headers, timeout=10)
    assert bad.status_code == 422
