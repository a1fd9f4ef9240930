"""The local blob store's signed URLs enforce what S3 enforces: signature, expiry, size, type."""

from __future__ import annotations

import time

import pytest
import requests

from service.adapters.blobstore.signed_urls import Grant


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


def test_multipart_part_urls_are_bounded(local_stack, ticket):
    client, _, request = ticket
    upload = request(size=7 * 1024 * 1024, content_type="application/octet-stream")["upload"]
    first = upload["parts"][0]
    resp = requests.put(client.url(first["url"]), data=b"x" * (upload["part_size"] + 1), timeout=30)
    assert resp.status_code == 403
    assert requests.put(client.url(tamper(first["url"])), data=b"x", timeout=10).status_code == 403
