"""Datasets over both blob stores: CRUD, counts, paging, deletion of every object, bad input."""

from __future__ import annotations

import pytest
import requests
from digits import delete_dataset

from service.client import ApiError
from service.vocabulary import layout


def test_create_read_update_list(stack):
    client = stack.client("editor")
    created = client.call(
        "POST", "/api/datasets", json={"name": "cats", "description": "d", "label_classes": ["cat", "dog"]}
    )
    assert created["name"] == "cats" and created["label_classes"] == ["cat", "dog"]
    assert created["item_count"] == 0 and created["bytes"] == 0 and created["label_counts"] == {}
    assert created["created_by"] == "editor-demo"
    read = client.call("GET", f"/api/datasets/{created['id']}")
    assert read == created
    changed = client.call("PATCH", f"/api/datasets/{created['id']}", json={"description": "new"})
    assert changed["description"] == "new" and changed["name"] == "cats"
    assert [d["id"] for d in client.pages("/api/datasets")] == [created["id"]]


def test_counts_follow_completed_uploads_only(stack):
    client = stack.client("editor")
    dataset = client.call("POST", "/api/datasets", json={"name": "n"})
    client.upload(dataset["id"], "a.png", b"12345", "image/png")
    client.upload(dataset["id"], "b.png", b"123", "image/png")
    client.call(
        "POST",
        f"/api/datasets/{dataset['id']}/items",
        json={"filename": "c.png", "content_type": "image/png", "size": 9},
    )
    read = client.call("GET", f"/api/datasets/{dataset['id']}")
    assert (read["item_count"], read["bytes"]) == (2, 8)


def test_pagination_visits_each_dataset_once(stack):
    client = stack.client("editor")
    ids = [client.call("POST", "/api/datasets", json={"name": f"d{n}"})["id"] for n in range(7)]
    seen, cursor = [], None
    while True:
        page = client.call("GET", "/api/datasets", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert len(page["items"]) <= 3
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids  # creation order, no repeats, none missing


def test_names_are_unique_per_tenant_ignoring_case(stack):
    client = stack.client("editor")
    first = client.call("POST", "/api/datasets", json={"name": "Birds"})
    with pytest.raises(ApiError) as err:
        client.call("POST", "/api/datasets", json={"name": "birds"})
    assert err.value.status == 409 and first["id"] in err.value.body["message"]
    other = client.call("POST", "/api/datasets", json={"name": "fish"})
    with pytest.raises(ApiError) as err:
        client.call("PATCH", f"/api/datasets/{other['id']}", json={"name": "BIRDS"})
    assert err.value.status == 409


def test_delete_removes_every_object(stack):
    client = stack.client("admin")
    dataset = client.call("POST", "/api/datasets", json={"name": "doomed"})
    keep = client.call("POST", "/api/datasets", json={"name": "kept"})
    for n in range(3):
        client.upload(dataset["id"], f"{n}.png", b"x" * (n + 1), "image/png")
    client.upload(keep["id"], "k.png", b"k", "image/png")
    big = client.call(  # a pending multipart upload must be aborted too
        "POST",
        f"/api/datasets/{dataset['id']}/items",
        json={"filename": "big.bin", "content_type": "application/octet-stream", "size": 7 * 1024 * 1024},
    )
    assert big["upload"]["method"] == "MULTIPART"
    deletion = delete_dataset(client, dataset["id"])
    assert deletion["progress"] == {"done": 4, "total": 4} and deletion["name"] == "doomed"
    keys = [o.key for o in stack.edna.blobs.iter_objects("tenants/demo/")]
    # the deletion's record stays, to be read
    assert keys and all(dataset["id"] not in k for k in keys if k != layout.dataset_deletion("demo", dataset["id"]))
    assert any(keep["id"] in k for k in keys)
    with pytest.raises(ApiError) as err:
        client.call("GET", f"/api/datasets/{dataset['id']}")
    assert err.value.status == 404
    assert client.call("GET", f"/api/datasets/{keep['id']}")["item_count"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"name": ""}, 422),
        ({"name": "   "}, 400),
        ({"name": 5}, 422),
        ({"name": "x" * 129}, 422),
        ({"name": "ok", "unknown": 1}, 422),
        ({"name": "a\u202eb"}, 400),
        ({"name": "ok", "label_classes": "cat"}, 422),
        ({"name": "ok", "label_classes": ["cat", "cat"]}, 400),
        ({"name": "ok", "label_classes": ["bad<tag>"]}, 400),
        ({"name": "ok", "label_classes": ["x" * 257]}, 400),
        ({"name": "ok", "label_classes": [""]}, 400),
        ({"name": "ok", "description": "x" * 5000}, 422),
        ({"name": "ok", "tenant": "acme"}, 422),
    ],
)
def test_bad_bodies_are_refused_and_write_nothing(stack, body, status):
    client = stack.client("editor")
    with pytest.raises(ApiError) as err:
        client.call("POST", "/api/datasets", json=body)
    assert err.value.status == status
    assert err.value.body["message"] or err.value.body.get("errors")
    assert list(stack.edna.blobs.iter_objects("tenants/")) == []


def test_malformed_json_and_bad_paging(stack):
    headers = {"Authorization": f"Bearer {stack.token()}", "Content-Type": "application/json"}
    resp = requests.post(stack.base_url + "/api/datasets", data="{not json", headers=headers, timeout=10)
    assert resp.status_code == 400
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        assert (
            requests.get(stack.base_url + "/api/datasets", params=params, headers=headers, timeout=10).status_code
            == 422
        )
    resp = requests.get(stack.base_url + "/api/datasets", params={"cursor": "%%%"}, headers=headers, timeout=10)
    assert resp.status_code == 400 and "cursor" in resp.json()["message"]
    resp = requests.patch(stack.base_url + "/api/datasets/" + "0" * 26, json={}, headers=headers, timeout=10)
    assert resp.status_code == 422
    big = '{"name": "' + "x" * (3 * 1024 * 1024) + '"}'
    resp = requests.post(stack.base_url + "/api/datasets", data=big, headers=headers, timeout=10)
    assert resp.status_code == 413
    assert list(stack.edna.blobs.iter_objects("tenants/")) == []


def test_unknown_ids_are_404(stack):
    client = stack.client("admin")
    for dataset_id in ("0" * 26, "..", "not-an-id", "%2e%2e%2fx"):
        with pytest.raises(ApiError) as err:
            client.call("GET", f"/api/datasets/{dataset_id}")
        assert err.value.status == 404
