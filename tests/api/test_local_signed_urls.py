"""The local blob store's signed URLs enforce what S3 enforces: signature, expiry, size, type."""

from __future__ import annotations

import time

import pytest
import requests

from service.adapters.blobstore.signed_urls import Grant
from service.client import ApiError
from service.demo import CLASSES, DIGITS_INPUT


@pytest.fixture
def ticket(local_stack):
    client = local_stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "signed"})["id"]

    def request(size: int = 10, method: str = "PUT", content_type: str = "image/png") -> dict:
        body = {"filename": "f.png", "content_type": content_type, "size": size, "method": method}
        return client.call("POST", f"/api/datasets/{dataset_id}/items", json=body)

    return client, dataset_id, request


def objects(stack) -> list[str]:
    return [o.key for o in stack.edna.blobs.iter_objects("tenants/") if not o.key.endswith("dataset.json")]


def tamper(url: str) -> str:
    head, _, tail = url.rpartition(".")
    return f"{head}.{'A' if tail[0] != 'A' else 'B'}{tail[1:]}"


def test_tampered_urls_are_refused(local_stack, ticket):
    client, _, request = ticket
    upload = request()["upload"]
    for url in (tamper(upload["url"]), upload["url"] + "x", "/api/blobs/garbage"):
        resp = requests.put(client.url(url), data=b"0123456789", headers=upload["headers"], timeout=10)
        assert resp.status_code == 403, resp.text
    assert objects(local_stack) == []


def test_a_grant_for_one_key_cannot_write_another(local_stack, ticket):
    client, dataset_id, request = ticket
    signer = local_stack.edna.blobs.signer
    token = request()["upload"]["url"].rsplit("/", 1)[1]
    signature = token.rpartition(".")[2]
    other = signer.sign(Grant("put", f"tenants/acme/datasets/{dataset_id}/x", int(time.time()) + 60, "image/png", 10))
    forged = other.rpartition(".")[0] + "." + signature
    resp = requests.put(
        client.url("/api/blobs/" + forged),
        data=b"0123456789",
        headers={"Content-Type": "image/png"},
        timeout=10,
    )
    assert resp.status_code == 403
    assert objects(local_stack) == []


def test_expired_urls_are_refused(local_stack, ticket):
    client, _, _ = ticket
    signer = local_stack.edna.blobs.signer
    key = "tenants/demo/datasets/x/items/y/f.png"
    expired = signer.sign(Grant("put", key, int(time.time()) - 1, "image/png", 10))
    resp = requests.put(
        client.url("/api/blobs/" + expired),
        data=b"0123456789",
        headers={"Content-Type": "image/png"},
        timeout=10,
    )
    assert resp.status_code == 403 and "expired" in resp.json()["message"]
    assert objects(local_stack) == []


def test_oversized_uploads_are_refused(local_stack, ticket):
    client, _, request = ticket
    upload = request(size=10)["upload"]
    resp = requests.put(client.url(upload["url"]), data=b"x" * 11, headers=upload["headers"], timeout=10)
    assert resp.status_code == 403
    # without a Content-Length header the stream is counted as it arrives
    resp = requests.put(
        client.url(upload["url"]), data=iter([b"x" * 6, b"x" * 6]), headers=upload["headers"], timeout=10
    )
    assert resp.status_code == 403
    post = request(size=10, method="POST")["upload"]
    files = {"file": ("f.png", b"x" * 11, "image/png")}
    assert requests.post(client.url(post["url"]), data=post["fields"], files=files, timeout=10).status_code == 403
    assert objects(local_stack) == []


def test_wrong_content_type_is_refused(local_stack, ticket):
    client, _, request = ticket
    upload = request()["upload"]
    for headers in ({"Content-Type": "text/html"}, {}):
        resp = requests.put(client.url(upload["url"]), data=b"0123456789", headers=headers, timeout=10)
        assert resp.status_code == 403
    post = request(method="POST")["upload"]
    fields = {**post["fields"], "Content-Type": "text/html"}
    files = {"file": ("f.png", b"0123456789", "text/html")}
    assert requests.post(client.url(post["url"]), data=fields, files=files, timeout=10).status_code == 403
    assert objects(local_stack) == []


def test_a_put_url_cannot_read_and_a_get_url_cannot_write(local_stack, ticket):
    client, dataset_id, request = ticket
    upload = request()["upload"]
    assert requests.get(client.url(upload["url"]), timeout=10).status_code == 403
    item = client.upload(dataset_id, "a.png", b"abc", "image/png")
    resp = requests.put(
        client.url(item["download_url"]), data=b"evil", headers={"Content-Type": "image/png"}, timeout=10
    )
    assert resp.status_code in (403, 405)
    assert requests.get(client.url(item["download_url"]), timeout=10).content == b"abc"


def test_downloads_are_hardened(local_stack, ticket):
    client, dataset_id, _ = ticket
    item = client.upload(dataset_id, "page.html", b"<script>alert(1)</script>", "text/html")
    resp = requests.get(client.url(item["download_url"]), timeout=10)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    # For the URL's holder only: no shared cache keeps a signed download.
    assert "private" in resp.headers["Cache-Control"] and "public" not in resp.headers["Cache-Control"]


def send(client, upload: dict, data: bytes) -> requests.Response:
    if upload["method"] == "POST":
        files = {"file": ("f.png", data, "image/png")}
        return requests.post(client.url(upload["url"]), data=upload["fields"], files=files, timeout=10)
    return requests.put(client.url(upload["url"]), data=data, headers=upload["headers"], timeout=10)


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_an_upload_url_works_once(local_stack, ticket, method):
    client, dataset_id, request = ticket
    ticket_ = request(size=10, method=method)
    upload, item_id = ticket_["upload"], ticket_["item"]["id"]
    assert send(client, upload, b"0123456789").status_code in (200, 204)

    again = send(client, upload, b"9876543210")  # before complete, after complete, after delete
    assert again.status_code == 409 and "already used" in again.json()["message"]
    client.call("POST", f"/api/datasets/{dataset_id}/items/{item_id}/complete", json={})
    assert send(client, upload, b"9876543210").status_code == 409
    client.call("DELETE", f"/api/datasets/{dataset_id}/items/{item_id}")
    assert send(client, upload, b"9876543210").status_code == 409
    assert objects(local_stack) == [f"tenants/demo/datasets/{dataset_id}/deleted/{item_id}"]


def test_a_failed_upload_does_not_spend_its_url(local_stack, ticket):
    client, dataset_id, request = ticket
    ticket_ = request(size=10)
    upload, item_id = ticket_["upload"], ticket_["item"]["id"]
    assert send(client, upload, b"x" * 11).status_code == 403  # larger than signed: nothing kept
    assert send(client, upload, b"0123456789").status_code == 200
    assert client.call("POST", f"/api/datasets/{dataset_id}/items/{item_id}/complete", json={})["size"] == 10


def test_multipart_part_urls_are_bounded(local_stack, ticket):
    client, _, request = ticket
    upload = request(size=7 * 1024 * 1024, content_type="application/octet-stream")["upload"]
    first = upload["parts"][0]
    resp = requests.put(client.url(first["url"]), data=b"x" * (upload["part_size"] + 1), timeout=30)
    assert resp.status_code == 403
    assert requests.put(client.url(tamper(first["url"])), data=b"x", timeout=10).status_code == 403


def test_an_unused_url_of_a_deleted_item_brings_nothing_back(local_stack, ticket):
    """Never used, the URL still writes once: the store's event sees the tombstone and discards it."""
    client, dataset_id, request = ticket
    ticket_ = request(size=10)
    upload, item_id = ticket_["upload"], ticket_["item"]["id"]
    client.call("DELETE", f"/api/datasets/{dataset_id}/items/{item_id}")

    assert send(client, upload, b"0123456789").status_code == 200

    assert objects(local_stack) == [f"tenants/demo/datasets/{dataset_id}/deleted/{item_id}"]
    with pytest.raises(ApiError) as err:
        client.call("POST", f"/api/datasets/{dataset_id}/items/{item_id}/complete", json={})
    assert err.value.status == 404
    assert list(client.pages(f"/api/datasets/{dataset_id}/items")) == []


def test_an_unused_url_of_a_deleted_model_leaves_no_file(local_stack, ticket):
    client = ticket[0]
    onnx = b"never completed"
    body = {"name": "gone", "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx)}
    created = client.call("POST", "/api/models", json=body)
    client.call("DELETE", f"/api/models/{created['model']['id']}")

    client.transfer(created["upload"], onnx, "application/octet-stream")  # lands, then its write event removes it

    assert list(local_stack.edna.blobs.iter_objects(f"tenants/demo/models/{created['model']['id']}/")) == []
