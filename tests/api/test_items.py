"""Items over both blob stores: direct uploads (PUT, POST policy, multipart), completion, reads, deletes."""

from __future__ import annotations

import os

import pytest
import requests

from service.client import ApiError
from service.settings import MiB


@pytest.fixture
def dataset(stack):
    client = stack.client("editor")
    return client, client.call("POST", "/api/datasets", json={"name": "items"})["id"]


def items_path(dataset_id: str) -> str:
    return f"/api/datasets/{dataset_id}/items"


def request_upload(client, dataset_id, **body):
    body = {"filename": "f.png", "content_type": "image/png", "size": 4, **body}
    return client.call("POST", items_path(dataset_id), json=body)


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_upload_complete_download(stack, dataset, method):
    client, dataset_id = dataset
    data = os.urandom(1000)
    ticket = request_upload(client, dataset_id, filename="é x.png", size=len(data), method=method)
    assert ticket["upload"]["method"] == method
    assert ticket["item"]["status"] == "pending" and ticket["item"]["download_url"] is None
    client.transfer(ticket["upload"], data, "image/png")
    item = client.call("POST", f"{items_path(dataset_id)}/{ticket['item']['id']}/complete", json={})
    assert item["status"] == "available" and item["size"] == 1000 and item["filename"] == "é x.png"
    assert requests.get(client.url(item["download_url"]), timeout=10).content == data
    redirect = requests.get(
        client.url(f"{items_path(dataset_id)}/{item['id']}/download"),
        headers={"Authorization": f"Bearer {client.token}"},
        allow_redirects=False,
        timeout=10,
    )
    assert redirect.status_code == 302
    assert requests.get(client.url(redirect.headers["Location"]), timeout=10).content == data
    read = client.call("GET", f"{items_path(dataset_id)}/{item['id']}")
    # URLs are signed anew; once the thumbnailer has looked at the bytes (not an image here) the note says so
    settled = {"download_url": None, "preview_note": None, "updated_at": None}
    assert {**read, **settled} == {**item, **settled}


def test_multipart_above_the_threshold(stack, dataset):
    client, dataset_id = dataset
    data = os.urandom(11 * MiB + 123)
    ticket = request_upload(
        client, dataset_id, filename="big.bin", content_type="application/octet-stream", size=len(data)
    )
    upload = ticket["upload"]
    assert upload["method"] == "MULTIPART" and upload["part_size"] == 5 * MiB
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    parts = client.transfer(upload, data, "application/octet-stream")
    complete = f"{items_path(dataset_id)}/{ticket['item']['id']}/complete"
    with pytest.raises(ApiError) as err:  # the parts are required
        client.call("POST", complete, json={})
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:  # a wrong ETag is refused
        client.call("POST", complete, json={"parts": [{**parts[0], "etag": '"0000"'}, *parts[1:]]})
    assert err.value.status == 400
    item = client.call("POST", complete, json={"parts": parts})
    assert item["status"] == "available" and item["size"] == len(data)
    assert requests.get(client.url(item["download_url"]), timeout=30).content == data


def test_complete_checks_storage(stack, dataset):
    client, dataset_id = dataset
    ticket = request_upload(client, dataset_id, size=10)
    complete = f"{items_path(dataset_id)}/{ticket['item']['id']}/complete"
    with pytest.raises(ApiError) as err:  # nothing uploaded yet
        client.call("POST", complete, json={})
    assert err.value.status == 409 and "not in storage" in err.value.body["message"]
    client.transfer(ticket["upload"], b"short", "image/png")  # 5 bytes, 10 announced
    with pytest.raises(ApiError) as err:
        client.call("POST", complete, json={})
    assert err.value.status == 422 and "announced" in err.value.body["message"]
    assert client.call("GET", f"{items_path(dataset_id)}/{ticket['item']['id']}")["status"] == "pending"
    with pytest.raises(ApiError) as err:  # parts make no sense for a single PUT
        client.call("POST", complete, json={"parts": [{"part_number": 1, "etag": "x"}]})
    assert err.value.status == 400


def test_complete_twice_is_harmless(stack, dataset):
    client, dataset_id = dataset
    item = client.upload(dataset_id, "a.png", b"abcd", "image/png")
    again = client.call("POST", f"{items_path(dataset_id)}/{item['id']}/complete", json={})
    assert again["status"] == "available" and again["id"] == item["id"]


def test_pending_item_cannot_be_downloaded(stack, dataset):
    client, dataset_id = dataset
    ticket = request_upload(client, dataset_id)
    with pytest.raises(ApiError) as err:
        client.call("GET", f"{items_path(dataset_id)}/{ticket['item']['id']}/download")
    assert err.value.status == 409


def test_delete_item_removes_its_object(stack, dataset):
    client, dataset_id = dataset
    item = client.upload(dataset_id, "a.png", b"abcd", "image/png")
    other = client.upload(dataset_id, "b.png", b"efgh", "image/png")
    client.call("DELETE", f"{items_path(dataset_id)}/{item['id']}")
    keys = [o.key for o in stack.edna.blobs.iter_objects(f"tenants/demo/datasets/{dataset_id}/items/")]
    assert keys == [f"tenants/demo/datasets/{dataset_id}/items/{other['id']}/b.png"]
    with pytest.raises(ApiError) as err:
        client.call("GET", f"{items_path(dataset_id)}/{item['id']}")
    assert err.value.status == 404
    assert requests.get(client.url(other["download_url"]), timeout=10).content == b"efgh"


def test_list_filters_and_pages(stack, dataset):
    client, dataset_id = dataset
    uploaded = [client.upload(dataset_id, f"img-{n}.png", b"x" * (n + 1), "image/png")["id"] for n in range(5)]
    text = client.upload(dataset_id, "notes.txt", b"hello", "text/plain")["id"]
    pending = request_upload(client, dataset_id, filename="later.png")["item"]["id"]
    everything = [i["id"] for i in client.pages(items_path(dataset_id), limit=2)]
    assert everything == [*uploaded, text, pending]
    assert [i["id"] for i in client.pages(items_path(dataset_id), status="pending")] == [pending]
    assert [i["id"] for i in client.pages(items_path(dataset_id), content_type="text/plain")] == [text]
    assert [i["id"] for i in client.pages(items_path(dataset_id), q="notes")] == [text]
    assert len(list(client.pages(items_path(dataset_id), unlabeled="true"))) == 7
    assert list(client.pages(items_path(dataset_id), label="cat")) == []
    first = client.call("GET", items_path(dataset_id), params={"limit": 3})
    request_upload(client, dataset_id, filename="inserted.png")  # an insert between pages
    second = client.call("GET", items_path(dataset_id), params={"limit": 3, "cursor": first["next_cursor"]})
    assert [i["id"] for i in first["items"] + second["items"]] == everything[:6]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filename": ""}, 400),
        ({"filename": "   "}, 400),
        ({"filename": "x" * 1024}, 400),
        ({"filename": "../../etc/passwd"}, 400),
        ({"filename": "a/b.png"}, 400),
        ({"filename": "..\\b.png"}, 400),
        ({"filename": ".."}, 400),
        ({"filename": "nul\x00.png"}, 400),
        ({"filename": "line\nbreak.png"}, 400),
        ({"filename": "gnp\u202eexe.png"}, 400),
        ({"filename": 5}, 422),
        ({"size": -1}, 422),
        ({"size": 0}, 422),
        ({"size": "12"}, 422),
        ({"size": 1.5}, 422),
        ({"size": 10**30}, 413),
        ({"content_type": "image"}, 400),
        ({"content_type": "text/html; charset=utf-8"}, 400),
        ({"content_type": ""}, 400),
        ({"method": "GET"}, 422),
        ({"extra": True}, 422),
    ],
)
def test_bad_upload_requests_write_nothing(stack, dataset, body, status):
    client, dataset_id = dataset
    with pytest.raises(ApiError) as err:
        request_upload(client, dataset_id, **body)
    assert err.value.status == status, err.value.body
    assert err.value.body["message"]
    assert list(client.pages(items_path(dataset_id))) == []
    assert [o.key for o in stack.edna.blobs.iter_objects("tenants/")] == [
        f"tenants/demo/datasets/{dataset_id}/dataset.json"
    ]


def test_missing_fields_and_bad_filters(stack, dataset):
    client, dataset_id = dataset
    for body in ({}, {"filename": "a.png"}, {"filename": "a.png", "content_type": "image/png"}):
        with pytest.raises(ApiError) as err:
            client.call("POST", items_path(dataset_id), json=body)
        assert err.value.status == 422
    for params in ({"status": "weird"}, {"limit": -1}, {"q": ""}):
        with pytest.raises(ApiError) as err:
            client.call("GET", items_path(dataset_id), params=params)
        assert err.value.status == 422
    with pytest.raises(ApiError) as err:
        client.call("GET", items_path(dataset_id), params={"content_type": "bad"})
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:
        client.call("POST", items_path("0" * 26), json={"filename": "a.png", "content_type": "image/png", "size": 1})
    assert err.value.status == 404


def test_multipart_completed_in_storage_but_not_confirmed_can_be_confirmed(stack, dataset):
    """A client retrying `complete` after a lost answer must not be stuck with a pending item."""
    client, dataset_id = dataset
    data = os.urandom(6 * MiB + 1)
    ticket = request_upload(
        client, dataset_id, filename="big.bin", content_type="application/octet-stream", size=len(data)
    )
    parts = client.transfer(ticket["upload"], data, "application/octet-stream")
    key = f"tenants/demo/datasets/{dataset_id}/items/{ticket['item']['id']}/big.bin"
    stack.edna.blobs.complete_multipart(
        key, ticket["upload"]["upload_id"], [(p["part_number"], p["etag"]) for p in parts]
    )
    item = client.call("POST", f"{items_path(dataset_id)}/{ticket['item']['id']}/complete", json={"parts": parts})
    assert item["status"] == "available" and item["size"] == len(data)


def test_aborted_multipart_cannot_be_completed(local_stack):
    # Local store only: moto answers a completion of an aborted upload with a 500, where S3
    # answers NoSuchUpload (which the S3 adapter maps to the same 409).
    client = local_stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "aborted"})["id"]
    data = os.urandom(6 * MiB + 1)
    ticket = request_upload(
        client, dataset_id, filename="big.bin", content_type="application/octet-stream", size=len(data)
    )
    key = f"tenants/demo/datasets/{dataset_id}/items/{ticket['item']['id']}/big.bin"
    local_stack.edna.blobs.abort_multipart(key, ticket["upload"]["upload_id"])
    with pytest.raises(ApiError) as err:
        client.call(
            "POST",
            f"{items_path(dataset_id)}/{ticket['item']['id']}/complete",
            json={"parts": [{"part_number": 1, "etag": "x"}]},
        )
    assert err.value.status == 409 and "gone" in err.value.body["message"]
