"""One contract suite for both BlobStore adapters; S3 (on the moto server, over HTTP) is the reference.

The local store's pre-signed URLs are served by the app and tested through the API; here its
multipart parts are written with `write_part` directly, while S3's go through `presign_part`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import service.adapters.blobstore as blobstore
from service.adapters.blobstore import BlobStore, InvalidParts, ObjectMissing, PreconditionFailed
from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.blobstore.s3 import S3BlobStore

MiB = 1024 * 1024
# S3 refuses any part but the last below 5 MiB, so the first part is exactly that.
PART_1 = bytes(range(256)) * (5 * MiB // 256)
PART_2 = b"the last part may be small"

# Neighbours of the directory "p/a/" on both sides of '/' (0x2f): ' ' '!' '-' '.' sort before it,
# '0' 'A' 'b' '~' and anything non-ASCII after it. A naive directory walk gets these wrong.
TRICKY_KEYS = [
    "p/a b",
    "p/a!",
    "p/a-b",
    "p/a.txt",
    "p/a/x",
    "p/a/y/z",
    "p/a0",
    "p/aA",
    "p/ab",
    "p/b",
    "p/~",
    "p/é",
    "p/日本",
]


def s3_order(keys) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    bucket = request.getfixturevalue("s3_bucket")
    return S3BlobStore(bucket, endpoint_url=request.getfixturevalue("moto_endpoint"))


@pytest.fixture
def s3_store(s3_bucket: str, moto_endpoint: str) -> S3BlobStore:
    return S3BlobStore(s3_bucket, endpoint_url=moto_endpoint)


def put(store: BlobStore, *keys: str) -> None:
    # Reverse order, so that no adapter can pass by returning keys in insertion order.
    for key in reversed(keys):
        store.put_bytes(key, key.encode(), "text/plain")


def listed(store: BlobStore, prefix: str, **kwargs) -> list[str]:
    page = store.list_page(prefix, **kwargs)
    assert page.next_token is None
    return [o.key for o in page.objects]


def all_pages(store: BlobStore, prefix: str, **kwargs) -> list:
    pages, token = [], None
    while True:
        page = store.list_page(prefix, token=token, **kwargs)
        pages.append(page)
        if page.next_token is None:
            return pages
        token = page.next_token


def small_pages(store: BlobStore, monkeypatch, size: int) -> list:
    """Make every listing page at most `size` long; returns the list of calls made."""
    calls = []
    real = store.list_page

    def list_page(prefix, **kwargs):
        calls.append(kwargs)
        return real(prefix, **{**kwargs, "limit": min(kwargs.get("limit", 1000), size)})

    monkeypatch.setattr(store, "list_page", list_page)
    return calls


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def upload_part(store: BlobStore, key: str, upload_id: str, number: int, data: bytes) -> str:
    if isinstance(store, LocalBlobStore):
        return store.write_part(key, upload_id, number, io.BytesIO(data), max_size=len(data))
    response = requests.put(store.presign_part(key, upload_id, number, len(data), 60), data=data, timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{md5(digests)}-{len(parts)}"


# -- objects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "data", "content_type"),
    [
        ("tenants/t/datasets/d/items/i/cat.png", b"\x89PNG\r\n\x1a\n", "image/png"),
        ("p/ünïcødé name+%20 (1).json", b'{"a": 1}', "application/json"),
        ("p/empty", b"", "application/octet-stream"),
    ],
)
def test_put_get_head(store, key, data, content_type):
    etag = store.put_bytes(key, data, content_type)
    info = store.head(key)

    assert (info.key, info.size, info.etag, info.content_type) == (key, len(data), md5(data), content_type)
    assert etag == info.etag
    assert info.last_modified.tzinfo is not None
    assert store.get_bytes(key) == data


@pytest.mark.parametrize("size", [0, 5, 3 * 1024 * 1024 + 7])
def test_read_into_streams_the_whole_object(store, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    store.put_bytes("p/big", data, "application/octet-stream")
    chunks: list[bytes] = []

    class Sink:
        def write(self, chunk: bytes) -> int:
            chunks.append(bytes(chunk))
            return len(chunk)

    store.read_into("p/big", Sink())
    assert b"".join(chunks) == data
    assert all(len(c) <= 1024 * 1024 for c in chunks)  # a chunk at a time, never the whole object
    with pytest.raises(ObjectMissing):
        store.read_into("p/missing", Sink())


def test_overwrite_replaces_bytes_type_and_tags(store):
    store.put_bytes("p/x", b"old", "text/plain")
    store.put_tags("p/x", {"label": "cat"})

    etag = store.put_bytes("p/x", b"newer", "image/png")
    info = store.head("p/x")

    assert (info.size, info.etag, info.content_type) == (5, md5(b"newer"), "image/png") and etag == info.etag
    assert store.get_bytes("p/x") == b"newer"
    assert store.get_tags("p/x") == {}


@pytest.mark.parametrize("key", ["nothing/here", "p/a"])
def test_missing_objects(store, key):
    # "p/a" is a prefix of an existing key (a directory on disk), not an object.
    put(store, "p/a/x")

    assert store.head(key) is None
    with pytest.raises(ObjectMissing):
        store.get_bytes(key)
    with pytest.raises(ObjectMissing):
        store.get_tags(key)
    with pytest.raises(ObjectMissing):
        store.put_tags(key, {"label": "cat"})


def test_delete_many_ignores_missing_keys(store):
    put(store, "p/a", "p/b", "p/c/d")

    store.delete_many(["p/a", "p/never", "nowhere/x", "p/c/d"])
    store.delete_many(["p/a"])
    store.delete_many([])

    assert listed(store, "") == ["p/b"]
    assert store.head("p/a") is None


# -- listing ----------------------------------------------------------------------------------


def test_list_is_in_s3_byte_order_across_directories(store):
    put(store, *TRICKY_KEYS, "q/outside", "pp/outside")

    keys = listed(store, "p/")

    assert keys == s3_order(TRICKY_KEYS)
    assert keys.index("p/a-b") < keys.index("p/a/x") < keys.index("p/a0")
    assert listed(store, "") == s3_order([*TRICKY_KEYS, "q/outside", "pp/outside"])


def test_list_prefix_may_end_inside_a_name(store):
    put(store, *TRICKY_KEYS, "q/outside")

    assert listed(store, "p/a") == s3_order(k for k in TRICKY_KEYS if k.startswith("p/a"))
    assert listed(store, "p/a/") == ["p/a/x", "p/a/y/z"]
    assert listed(store, "p/a/y/z") == ["p/a/y/z"]
    assert listed(store, "p/zz") == []
    assert listed(store, "nope/") == []


def test_list_objects_carry_size_and_etag(store):
    store.put_bytes("p/one", b"12345", "text/plain")

    (obj,) = store.list_page("p/").objects

    assert (obj.key, obj.size, obj.etag) == ("p/one", 5, md5(b"12345"))
    assert obj.last_modified.tzinfo is not None


@pytest.mark.parametrize(
    ("prefix", "objects", "prefixes"),
    [
        ("p/", [k for k in s3_order(TRICKY_KEYS) if k.count("/") == 1], ["p/a/"]),
        ("p/a", ["p/a b", "p/a!", "p/a-b", "p/a.txt", "p/a0", "p/aA", "p/ab"], ["p/a/"]),
        ("p/a/", ["p/a/x"], ["p/a/y/"]),
        ("", [], ["p/", "q/"]),
    ],
)
def test_delimiter_gives_common_prefixes(store, prefix, objects, prefixes):
    put(store, *TRICKY_KEYS, "q/outside")

    page = store.list_page(prefix, delimiter="/")

    assert [o.key for o in page.objects] == objects
    assert page.prefixes == prefixes
    assert page.next_token is None


def test_directory_emptied_by_deletes_is_no_common_prefix(store):
    put(store, "p/gone/x", "p/gone/deep/er/y", "p/half/x", "p/half/y", "p/kept/z")

    store.delete_many(["p/gone/x", "p/gone/deep/er/y", "p/half/x"])

    page = store.list_page("p/", delimiter="/")
    assert page.prefixes == ["p/half/", "p/kept/"]
    assert page.objects == []
    assert listed(store, "p/gone/") == []


KEYS_25 = [f"p/{i:02d}" for i in range(10)] + [f"p/d{i % 3}/{i:02d}" for i in range(10, 25)]


@pytest.mark.parametrize("limit", [1, 7, 10, 24, 25, 100])
def test_pagination_visits_every_key_once(store, limit):
    put(store, *KEYS_25, "q/outside")

    pages = all_pages(store, "p/", limit=limit)

    keys = [o.key for page in pages for o in page.objects]
    assert keys == s3_order(KEYS_25)
    assert [len(page.objects) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert len(pages) == -(-25 // limit)


def test_pagination_with_delimiter_counts_prefixes_too(store):
    files = [f"p/f{i:02d}" for i in range(15)]
    dirs = [f"p/d{i:02d}/x" for i in range(10)] + ["p/d03/more/y"]
    put(store, *files, *dirs)

    pages = all_pages(store, "p/", delimiter="/", limit=10)

    assert [len(p.objects) + len(p.prefixes) for p in pages] == [10, 10, 5]
    assert [o.key for p in pages for o in p.objects] == files
    assert [x for p in pages for x in p.prefixes] == [f"p/d{i:02d}/" for i in range(10)]


@pytest.mark.parametrize(
    ("start_after", "expected"),
    [
        ("p/a-b", [k for k in s3_order(TRICKY_KEYS) if k.encode() > b"p/a-b"]),
        ("p/a/", ["p/a/x", "p/a/y/z", "p/a0", "p/aA", "p/ab", "p/b", "p/~", "p/é", "p/日本"]),
        ("p/a/x", ["p/a/y/z", "p/a0", "p/aA", "p/ab", "p/b", "p/~", "p/é", "p/日本"]),
        ("a", s3_order(TRICKY_KEYS)),
        ("p/", s3_order(TRICKY_KEYS)),
        ("p/日本", []),
        ("z", []),
    ],
)
def test_start_after(store, start_after, expected):
    put(store, *TRICKY_KEYS)

    assert listed(store, "p/", start_after=start_after) == expected


def test_start_after_a_common_prefix_resumes_after_it(store):
    # How the dataset listing pages: start_after is the last common prefix of the previous page.
    put(store, "t/d1/x", "t/d2/x", "t/d2/y/z", "t/d3/x", "t/e")

    page = store.list_page("t/", delimiter="/", start_after="t/d2/")

    assert page.prefixes == ["t/d3/"]
    assert [o.key for o in page.objects] == ["t/e"]


def test_iter_objects_and_delete_prefix_span_pages(store, monkeypatch):
    put(store, *KEYS_25, "q/keep", "p0/keep")
    calls = small_pages(store, monkeypatch, 10)

    assert [o.key for o in store.iter_objects("p/")] == s3_order(KEYS_25)
    assert len(calls) == 3

    # Deletes in batches of 7 interleave with the listing that feeds them.
    monkeypatch.setattr(blobstore, "DELETE_BATCH", 7)
    assert store.delete_prefix("p/") == 25

    assert list(store.iter_objects("p/")) == []
    assert store.list_page("p/", delimiter="/").prefixes == []
    assert [o.key for o in store.iter_objects("")] == ["p0/keep", "q/keep"]


# -- tags -------------------------------------------------------------------------------------


def test_tags_round_trip_and_replace(store):
    store.put_bytes("p/x", b"x", "text/plain")
    assert store.get_tags("p/x") == {}

    tags = {"label": "cat", "note": "a b+c-d=e.f_g:h/i@j", "größe": "日本 ünï"}
    store.put_tags("p/x", tags)
    assert store.get_tags("p/x") == tags

    store.put_tags("p/x", {"label": "dog"})
    assert store.get_tags("p/x") == {"label": "dog"}
    assert store.get_bytes("p/x") == b"x"


# -- multipart --------------------------------------------------------------------------------


def test_multipart_round_trip(store):
    key = "p/big.bin"
    upload_id = store.create_multipart(key, "application/octet-stream", len(PART_1) + len(PART_2))
    # Parts may arrive in any order.
    etag_2 = upload_part(store, key, upload_id, 2, PART_2)
    etag_1 = upload_part(store, key, upload_id, 1, PART_1)
    assert store.head(key) is None

    store.complete_multipart(key, upload_id, [(1, etag_1), (2, etag_2)])

    assert store.get_bytes(key) == PART_1 + PART_2
    info = store.head(key)
    assert info is not None
    assert (info.size, info.content_type) == (len(PART_1) + len(PART_2), "application/octet-stream")
    assert info.etag == multipart_etag(PART_1, PART_2)
    assert listed(store, "") == [key]


@pytest.mark.parametrize("bad", ["wrong_etag", "missing_part", "unknown_part_only"])
def test_multipart_with_bad_parts_is_refused_and_stays_open(store, bad):
    key = "p/big.bin"
    upload_id = store.create_multipart(key, "application/octet-stream", len(PART_1) + len(PART_2))
    etag_1 = upload_part(store, key, upload_id, 1, PART_1)
    etag_2 = upload_part(store, key, upload_id, 2, PART_2)
    parts = {
        "wrong_etag": [(1, etag_1), (2, '"' + "0" * 32 + '"')],
        "missing_part": [(1, etag_1), (2, etag_2), (3, '"' + "0" * 32 + '"')],
        "unknown_part_only": [(7, etag_1)],
    }[bad]

    with pytest.raises(InvalidParts):
        store.complete_multipart(key, upload_id, parts)
    assert store.head(key) is None

    store.complete_multipart(key, upload_id, [(1, etag_1), (2, etag_2)])
    assert store.get_bytes(key) == PART_1 + PART_2


def open_uploads(store: BlobStore) -> list:
    if isinstance(store, LocalBlobStore):
        return list(store.uploads.iterdir())
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def test_abort_multipart_removes_the_upload(store):
    key = "p/big.bin"
    upload_id = store.create_multipart(key, "application/octet-stream", 10)
    upload_part(store, key, upload_id, 1, b"0123456789")
    assert len(open_uploads(store)) == 1

    store.abort_multipart(key, upload_id)

    assert open_uploads(store) == []
    assert store.head(key) is None
    assert listed(store, "") == []
    store.abort_multipart(key, upload_id)  # aborting twice is fine
    store.abort_multipart(key, "0" * 26)  # so is aborting an upload that never was


# -- pre-signed URLs on S3 (moto does not check signatures, so the URLs' terms are checked) ------


def test_presign_put(s3_store):
    upload = s3_store.presign_put("p/cat.png", "image/png", 5, 60)

    assert upload["method"] == "PUT"
    query = parse_qs(urlsplit(upload["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Expires"] == ["60"]

    response = requests.put(upload["url"], data=b"\x89PNG!", headers=upload["headers"], timeout=10)

    assert response.status_code == 200, response.text
    assert s3_store.get_bytes("p/cat.png") == b"\x89PNG!"
    assert s3_store.head("p/cat.png").content_type == "image/png"


def test_presign_post(s3_store):
    upload = s3_store.presign_post("p/cat.png", "image/png", 100, 60)

    assert upload["method"] == "POST"
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, 100] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"

    response = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("cat.png", b"\x89PNG!", "image/png")},
        timeout=10,
    )

    assert response.ok, response.text
    assert s3_store.get_bytes("p/cat.png") == b"\x89PNG!"
    assert s3_store.head("p/cat.png").content_type == "image/png"


def test_presign_get(s3_store):
    s3_store.put_bytes("p/résumé 1.pdf", b"%PDF-1.7", "application/pdf")

    plain = requests.get(s3_store.presign_get("p/résumé 1.pdf", 60), timeout=10)
    named = requests.get(s3_store.presign_get("p/résumé 1.pdf", 60, filename="résumé 1.pdf"), timeout=10)
    missing = requests.get(s3_store.presign_get("p/nothing", 60), timeout=10)

    assert plain.status_code == 200
    assert plain.content == b"%PDF-1.7"
    assert plain.headers["Content-Type"] == "application/pdf"
    assert named.content == b"%PDF-1.7"
    assert named.headers["Content-Disposition"] == "inline; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf"
    assert missing.status_code == 404


@pytest.mark.parametrize("key", ["p/f/x", "p/", "p/f/"])
def test_keys_no_object_can_hold_are_missing_like_on_s3(store, key):
    put(store, "p/f")
    assert store.head(key) is None
    with pytest.raises(ObjectMissing):
        store.get_bytes(key)
    store.delete_many([key])
    assert store.head("p/f") is not None


def test_deleting_a_prefix_as_a_key_deletes_nothing(store):
    put(store, "p/a/x")
    store.delete_many(["p/a"])
    assert listed(store, "p/") == ["p/a/x"]


def test_local_multipart_refuses_small_parts_like_s3(tmp_path):
    # moto accepts them; real S3 answers EntityTooSmall, which S3BlobStore maps to InvalidParts.
    store = LocalBlobStore(tmp_path / "blobs")
    key = "mp/small-parts"
    upload_id = store.create_multipart(key, "application/octet-stream", 20)
    parts = [(n, upload_part(store, key, upload_id, n, b"tiny")) for n in (1, 2)]
    with pytest.raises(InvalidParts):
        store.complete_multipart(key, upload_id, parts)


# -- write-once uploads: a signed upload never replaces an object ------------------------------


def signed_put(store: BlobStore, upload: dict, data: bytes) -> None:
    """Send `data` to a pre-signed PUT as a client does; PreconditionFailed when storage refuses it."""
    if isinstance(store, LocalBlobStore):  # its URLs are served by the app: the route's own call
        token = upload["url"].rsplit("/", 1)[1]
        store.accept_upload(store.signer.verify(token, {"put"}), token, io.BytesIO(data))
        return
    response = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=10)
    if response.status_code == 412:
        raise PreconditionFailed(response.text)
    assert response.status_code == 200, response.text


def test_a_signed_put_never_replaces_an_object(store):
    key = "p/model.onnx"
    signed_put(store, store.presign_put(key, "application/octet-stream", 10, 60), b"validated!")

    with pytest.raises(PreconditionFailed):  # a second URL for the same key
        signed_put(store, store.presign_put(key, "application/octet-stream", 10, 60), b"swapped!!!")

    assert store.get_bytes(key) == b"validated!"


def test_a_signed_put_url_is_refused_over_an_object_written_otherwise(store):
    store.put_bytes("p/x", b"first", "text/plain")
    with pytest.raises(PreconditionFailed):
        signed_put(store, store.presign_put("p/x", "text/plain", 5, 60), b"again")
    assert store.get_bytes("p/x") == b"first"


def test_a_replayed_put_url_after_a_delete(store):
    """Local grants are spent by their write; S3 cannot revoke a URL before it expires (README):
    there the replay lands, and tombstones plus the event path discard it (tests/attacks)."""
    upload = store.presign_put("p/x", "text/plain", 5, 60)
    signed_put(store, upload, b"first")
    store.delete_many(["p/x"])

    if store.name == "local":
        with pytest.raises(PreconditionFailed, match="already used"):
            signed_put(store, upload, b"again")
        assert store.head("p/x") is None
    else:
        signed_put(store, upload, b"again")
        assert store.get_bytes("p/x") == b"again"


def test_multipart_completion_never_replaces_an_object(store):
    key = "p/big.bin"
    upload_id = store.create_multipart(key, "application/octet-stream", len(PART_2))
    etag = upload_part(store, key, upload_id, 1, PART_2)
    store.put_bytes(key, b"already here", "text/plain")

    with pytest.raises(PreconditionFailed):
        store.complete_multipart(key, upload_id, [(1, etag)])

    assert store.get_bytes(key) == b"already here"


def test_s3_put_urls_sign_the_write_once_condition(s3_store):
    upload = s3_store.presign_put("p/cat.png", "image/png", 5, 60)

    signed = parse_qs(urlsplit(upload["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    # Signed: real S3 refuses the PUT if the header is dropped or changed (moto checks no signature).
    assert "if-none-match" in signed
    assert upload["headers"]["If-None-Match"] == "*"


def test_s3_downloads_are_private_to_caches(s3_store):
    s3_store.put_bytes("p/x", b"x", "text/plain")
    response = requests.get(s3_store.presign_get("p/x", 60), timeout=10)
    assert response.headers["Cache-Control"] == "private, max-age=60"
