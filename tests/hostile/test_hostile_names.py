"""Hostile names through the API, on both blob stores: file names, dataset names, tags, labels, label and
class names, member usernames.

Every refusal is a 4xx with a message and writes nothing (the tenant's keys, the index and the members
are the same after it); everything accepted lands under `tenants/demo/...`, at the key the layout names.

Decisions asserted here:
- File names are NFC-normalised (one name, one key: `café.png` typed either way is the same file); the
  user's characters are otherwise kept, including `%`, `:`, `?`, `#`, spaces and homoglyphs.
- Dataset names are display names, never part of a key: `../x`, `C:\\x` or `%2e%2e%2f` are harmless there
  and accepted; control and invisible characters are not. Names are unique per tenant after NFC and case
  folding, so the NFC and NFD forms of one name cannot both exist.
- Labels, label classes and a model's class names are S3 tag values: letters, digits, spaces and
  `+ - = . _ : / @`. Combining marks are not among them, so an NFD form is refused, not duplicated.
- Homoglyphs (Cyrillic U+0430 for Latin `a`) are different names: allowed.
"""

from __future__ import annotations

import unicodedata

import pytest
import requests

from service.vocabulary import layout

PNG = b"\x89PNG\r\n\x1a\nhostile"
NFC, NFD = "caf\u00e9", "cafe\u0301"

CONTROL = ["a\x00b", "a\nb", "a\rb", "a\tb", "a\x1bb", "a\x7fb", "a\u0085b"]
INVISIBLE = ["a\u202eb", "a\u202db", "a\u2066b", "a\u200bb", "a\u200db", "a\ufeffb", "a\u2028b", "a\udcffb"]


def call(stack, method: str, path: str, role: str = "admin", **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.token(f'{role}-names', 'demo', role)}"}
    return requests.request(method, stack.base_url + path, headers=headers, timeout=30, **kwargs)


def state(stack) -> tuple:
    """What a refused request must leave alone: the tenant's objects, the index, the members."""
    for role in ("viewer", "labeler", "editor", "admin"):  # every caller a member first: tokens need one
        stack.token(f"{role}-names", "demo", role)
    keys = sorted(o.key for o in stack.edna.blobs.iter_objects(layout.TENANTS))
    found = call(stack, "GET", "/api/search", params={"limit": 1000}).json()["items"]
    items = sorted((i["id"], i["filename"], i["label"], tuple(sorted(i["tags"].items()))) for i in found)
    members = stack.edna.adapters.users.list("demo", 1000, None)
    return keys, items, members


def refused(resp: requests.Response, what) -> None:
    assert resp.status_code in (400, 413, 422), (what, resp.status_code, resp.text[:300])
    assert resp.json()["message"].strip(), (what, resp.text)


def every_key_is_the_tenants(stack) -> list[str]:
    keys = [o.key for o in stack.edna.blobs.iter_objects("")]
    outside = [k for k in keys if not k.startswith(("tenants/demo/", "ledger/demo/"))]
    assert not outside, outside
    for key in keys:
        assert "/../" not in f"/{key}/" and "\\" not in key and "\x00" not in key and "//" not in key, key
    return keys


@pytest.fixture
def dataset(stack) -> str:
    resp = call(stack, "POST", "/api/datasets", json={"name": "hostile"})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def upload(stack, dataset_id: str, filename: str) -> dict:
    """Request, transfer to the signed URL, complete: the item as the API then shows it."""
    client = stack.client("editor", "demo", "editor-names")
    return client.upload(dataset_id, filename, PNG, "image/png")


# ---------------------------------------------------------------- file names

HOSTILE_FILENAMES = [
    "",
    " ",
    ".",
    "..",
    "../x.png",
    "../../tenants/acme/x.png",
    "..\\x.png",
    "a/b.png",
    "/etc/passwd",
    "\\\\server\\share\\x.png",
    "C:\\Windows\\x.png",
    "x.png/",
    " x.png",
    "x.png ",
    "a" * 256,
    "é" * 128,  # 128 characters, 256 bytes
    "日" * 86,  # 86 characters, 258 bytes
    "😀" * 64,  # 64 characters, 256 bytes
    *CONTROL,
    *INVISIBLE,
    "cat\u202egnp.exe",
]

ODD_BUT_FINE_FILENAMES = [
    "%2e%2e%2f",
    "..%2f..%2fx.png",
    "%00.png",
    "C:x.png",
    "x?y#z&w=1.png",
    "a b+c.png",
    "...png",
    "con",
    "é" * 127 + "a",  # 255 bytes
    "😀" * 63 + "abc",  # 255 bytes
    "\u0430pple.png",  # Cyrillic U+0430: a homoglyph, a different name
    "'; DROP TABLE items; --.png",
    "<img src=x onerror=alert(1)>.png",
]


def test_hostile_filenames_are_refused_and_write_nothing(stack, dataset):
    before = state(stack)
    for name in HOSTILE_FILENAMES:
        resp = call(
            stack,
            "POST",
            f"/api/datasets/{dataset}/items",
            role="editor",
            json={"filename": name, "content_type": "image/png", "size": len(PNG)},
        )
        refused(resp, name)
    assert state(stack) == before
    every_key_is_the_tenants(stack)


def test_odd_filenames_are_kept_and_stored_under_their_item(stack, dataset):
    for name in ODD_BUT_FINE_FILENAMES:
        item = upload(stack, dataset, name)
        assert item["filename"] == name and item["status"] == "available", (name, item)
        key = layout.item_object("demo", dataset, item["id"], name)
        assert stack.edna.blobs.head(key) is not None, key
        download = call(stack, "GET", f"/api/datasets/{dataset}/items/{item['id']}/download", allow_redirects=False)
        assert download.status_code == 302
        got = requests.get(requests.compat.urljoin(stack.base_url, download.headers["Location"]), timeout=30)
        assert got.status_code == 200 and got.content == PNG, (name, got.status_code)
    keys = every_key_is_the_tenants(stack)
    stored = {k.rsplit("/", 1)[1] for k in keys if "/items/" in k}
    assert stored == set(ODD_BUT_FINE_FILENAMES)


def test_a_filename_is_nfc_normalised_and_its_byte_limit_counts_that_form(stack, dataset):
    item = upload(stack, dataset, f"{NFD}.png")
    assert item["filename"] == f"{NFC}.png"
    decomposed = "e\u0301" * 127 + "a"  # 382 bytes as sent, 255 once composed
    assert upload(stack, dataset, decomposed)["filename"] == "é" * 127 + "a"
    names = {k.rsplit("/", 1)[1] for k in every_key_is_the_tenants(stack) if "/items/" in k}
    assert names == {f"{NFC}.png", "é" * 127 + "a"}
    assert all(unicodedata.is_normalized("NFC", n) for n in names)


# ---------------------------------------------------------------- dataset names

HOSTILE_DATASET_NAMES = ["", "   ", "x" * 129, *CONTROL, *INVISIBLE]
HARMLESS_DATASET_NAMES = ["../x", "..\\x", "%2e%2e%2f", "/etc/passwd", "C:\\Windows", "\u0430dmin", "日本語 " * 10]


def test_hostile_dataset_names_are_refused_on_create_and_rename(stack, dataset):
    before = state(stack)
    for name in HOSTILE_DATASET_NAMES:
        refused(call(stack, "POST", "/api/datasets", role="editor", json={"name": name}), name)
        refused(call(stack, "PATCH", f"/api/datasets/{dataset}", role="editor", json={"name": name}), name)
    assert state(stack) == before
    assert call(stack, "GET", f"/api/datasets/{dataset}").json()["name"] == "hostile"


def test_dataset_names_are_display_names_never_keys(stack):
    ids = []
    for name in HARMLESS_DATASET_NAMES:
        resp = call(stack, "POST", "/api/datasets", role="editor", json={"name": name})
        assert resp.status_code == 201, (name, resp.text)
        assert resp.json()["name"] == name.strip()
        ids.append(resp.json()["id"])
    keys = every_key_is_the_tenants(stack)
    assert sorted(keys_of_datasets(keys)) == sorted(ids)


def keys_of_datasets(keys: list[str]) -> set[str]:
    return {
        layout.name_after(layout.datasets_prefix("demo"), k) for k in keys if k.startswith("tenants/demo/datasets/")
    }


def test_names_that_differ_only_by_normalisation_or_case_are_one_name(stack):
    first = call(stack, "POST", "/api/datasets", role="editor", json={"name": NFC})
    assert first.status_code == 201 and first.json()["name"] == NFC
    before = state(stack)
    for same in (NFD, NFC.upper(), NFD.upper(), f" {NFC} "):
        resp = call(stack, "POST", "/api/datasets", role="editor", json={"name": same})
        assert resp.status_code == 409, (same, resp.text)
    other = call(stack, "POST", "/api/datasets", role="editor", json={"name": "other"}).json()["id"]
    before = state(stack)
    assert call(stack, "PATCH", f"/api/datasets/{other}", role="editor", json={"name": NFD}).status_code == 409
    assert state(stack) == before
    # A homoglyph is another name.
    assert call(stack, "POST", "/api/datasets", role="editor", json={"name": "c\u0430f\u00e9"}).status_code == 201


# ---------------------------------------------------------------- tags, labels, classes


@pytest.fixture
def item(stack, dataset) -> tuple[str, str]:
    made = upload(stack, dataset, "x.png")["id"]
    # The thumbnailer's answer (a thumbnail, or the marker of a refusal) is written off the request
    # path: settled first, so "writes nothing" compares what the refused requests did alone.
    assert stack.edna.wait_for_thumbnails(30)
    return dataset, made


HOSTILE_TAGS = [
    {"aws:createdBy": "x"},
    {"AWS:x": "y"},
    {"aws:": "y"},
    {"label": "cat"},
    {"": "empty key"},
    {"k" * 129: "v"},
    {"k": "v" * 257},
    {f"k{i}": "v" for i in range(11)},
    {"a\x00b": "v"},
    {"k": "a\x00b"},
    {"k": "a\nb"},
    {"k\u202e": "v"},
    {"k": "a,b"},
    {"k": "<b>"},
    {"k": "50%"},
    {"../k": "v"} | {"k\\": "v"},
]
FINE_TAGS = {"猫": "Straße", "a/b": "c:d", "path": "../x", "k" * 128: "v" * 256, "sp ace": "+-=._:/@"}


def test_hostile_tags_are_refused_and_write_nothing(stack, item):
    dataset_id, item_id = item
    before = state(stack)
    for tags in HOSTILE_TAGS:
        resp = call(
            stack, "PUT", f"/api/datasets/{dataset_id}/items/{item_id}/tags", role="labeler", json={"tags": tags}
        )
        refused(resp, tags)
    assert state(stack) == before


def test_tags_within_s3_limits_round_trip(stack, item):
    dataset_id, item_id = item
    resp = call(
        stack, "PUT", f"/api/datasets/{dataset_id}/items/{item_id}/tags", role="labeler", json={"tags": FINE_TAGS}
    )
    assert resp.status_code == 200, resp.text
    assert call(stack, "GET", f"/api/datasets/{dataset_id}/items/{item_id}").json()["tags"] == FINE_TAGS
    every_key_is_the_tenants(stack)


HOSTILE_LABELS = ["", " ", "x" * 257, "a,b", "a\\b", "<b>", *CONTROL, *INVISIBLE]


def test_hostile_labels_are_refused_and_write_nothing(stack, item):
    dataset_id, item_id = item
    before = state(stack)
    for label in HOSTILE_LABELS:
        path = f"/api/datasets/{dataset_id}/items/{item_id}/label"
        refused(call(stack, "PUT", path, role="labeler", json={"label": label}), label)
        bulk = call(
            stack,
            "POST",
            f"/api/datasets/{dataset_id}/labels",
            role="labeler",
            json={"labels": [{"item_id": item_id, "label": label}]},
        )
        if bulk.status_code == 200:  # bulk answers per entry
            (result,) = bulk.json()["results"]
            assert result["status"] == 400 and result["error"], (label, result)
        else:
            refused(bulk, label)
    assert state(stack) == before


def test_label_names_with_dots_and_slashes_are_just_labels(stack, item):
    dataset_id, item_id = item
    for label in ("../x", "a/b", "..", "猫"):
        resp = call(
            stack, "PUT", f"/api/datasets/{dataset_id}/items/{item_id}/label", role="labeler", json={"label": label}
        )
        assert resp.status_code == 200 and resp.json()["label"] == label, resp.text
    every_key_is_the_tenants(stack)


HOSTILE_CLASSES = [[""], ["a,b"], ["a\x00"], ["x" * 257], ["a\u202e"], ["dup", "dup"], [NFC, NFD]]


def test_hostile_label_classes_are_refused(stack, dataset):
    before = state(stack)
    for classes in HOSTILE_CLASSES:
        refused(
            call(stack, "POST", "/api/datasets", role="editor", json={"name": "c", "label_classes": classes}), classes
        )
        resp = call(stack, "PATCH", f"/api/datasets/{dataset}", role="editor", json={"label_classes": classes})
        refused(resp, classes)
    assert state(stack) == before


def test_hostile_model_class_names_are_refused(stack):
    from service.demo import DIGITS_INPUT

    before = state(stack)
    for classes in HOSTILE_CLASSES:
        body = {"name": "m", "class_names": [*classes, "other"], "input": DIGITS_INPUT, "size": 10}
        refused(call(stack, "POST", "/api/models", role="editor", json=body), classes)
    for name in HOSTILE_DATASET_NAMES:
        body = {"name": name, "class_names": ["a", "b"], "input": DIGITS_INPUT, "size": 10}
        refused(call(stack, "POST", "/api/models", role="editor", json=body), name)
    assert state(stack) == before


# ---------------------------------------------------------------- member usernames

HOSTILE_USERNAMES = [
    "",
    "../x",
    "a/b",
    "a\\b",
    "/abs",
    "C:\\x",
    " alice",
    "alice ",
    "alice\n",
    "a\x00b",
    "ålice",
    "a" * 129,
    "-alice",
    ".alice",
    "a\u202eb",
    "\u0430lice",
    "alice;rm",
    "%2e%2e%2f",
]


def test_hostile_usernames_are_refused_and_write_nothing(stack):
    before = state(stack)
    for name in HOSTILE_USERNAMES:
        refused(call(stack, "POST", "/api/members", json={"username": name, "role": "viewer"}), name)
    for name in ("..", "..%2f..%2fx", "%00", "a%5cb"):
        assert call(stack, "PATCH", f"/api/members/{name}", json={"role": "admin"}).status_code in (404, 405), name
        assert call(stack, "DELETE", f"/api/members/{name}").status_code in (404, 405), name
    assert state(stack) == before


def test_a_plain_username_with_every_allowed_sign_is_invited(stack):
    resp = call(stack, "POST", "/api/members", json={"username": "a.b@c+d-e_f", "role": "viewer"})
    assert resp.status_code == 201, resp.text
    invited = [m.username for m in stack.edna.adapters.users.list("demo", 1000, None)]
    assert invited == ["a.b@c+d-e_f", "admin-names"]  # the invite, and the admin whose token asked for it
