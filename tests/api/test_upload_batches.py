"""Upload batches over both blob stores: many upload requests and many completes per call, each entry
answered on its own, the batch held to the item and byte quotas exactly as the same uploads one by one."""

from __future__ import annotations

import pytest
import requests
from tally import raw, wait_until_not_near_a_new_minute

from service.settings import MiB
from tests.api.test_quotas import holdings


def items_path(dataset_id: str) -> str:
    return f"/api/datasets/{dataset_id}/items"


def entry(name: str, size: int = 4, **changes) -> dict:
    return {"filename": name, "content_type": "image/png", "size": size, **changes}


def send(stack, upload: dict, data: bytes) -> None:
    url = stack.base_url + upload["url"] if upload["url"].startswith("/") else upload["url"]  # the local store's
    if upload["method"] == "PUT":
        resp = requests.put(url, data=data, headers=upload["headers"], timeout=10)
    else:
        resp = requests.post(url, data=upload["fields"], files={"file": ("f", data)}, timeout=10)
    assert resp.status_code in (200, 204), resp.text


@pytest.fixture
def dataset(stack):
    editor = stack.client("editor")
    return editor, editor.call("POST", "/api/datasets", json={"name": "batches"})["id"]


def test_a_batch_of_uploads_is_requested_sent_and_completed_in_two_calls(stack, dataset):
    editor, dataset_id = dataset
    files = {f"f{n}.png": bytes([n]) * (n + 1) for n in range(5)}
    body = {"items": [entry(name, len(data)) for name, data in files.items()]}
    body["items"][4]["method"] = "POST"
    results = editor.call("POST", f"{items_path(dataset_id)}/bulk", json=body)["results"]
    assert [(r["index"], r["status"]) for r in results] == [(n, 201) for n in range(5)]
    assert [r["item"]["filename"] for r in results] == list(files)
    assert {r["item"]["status"] for r in results} == {"pending"}
    assert [r["upload"]["method"] for r in results] == ["PUT"] * 4 + ["POST"]
    for result, data in zip(results, files.values(), strict=True):
        send(stack, result["upload"], data)
    ids = [r["item"]["id"] for r in results]
    done = editor.call("POST", f"{items_path(dataset_id)}/complete", json={"item_ids": [*ids, ids[0]]})["results"]
    assert [(r["item_id"], r["status"], r["item"]["status"]) for r in done] == [(i, 200, "available") for i in ids]
    listed = {i["filename"]: i for i in editor.pages(items_path(dataset_id))}
    assert {name: listed[name]["size"] for name in files} == {name: len(d) for name, d in files.items()}
    assert editor.session.get(editor.url(listed["f3.png"]["download_url"]), timeout=10).content == files["f3.png"]
    # completing again is harmless and counts no second upload in the usage meter
    again = editor.call("POST", f"{items_path(dataset_id)}/complete", json={"item_ids": ids})["results"]
    assert {r["status"] for r in again} == {200}


def test_each_entry_answers_for_itself(stack, dataset):
    editor, dataset_id = dataset
    threshold = stack.config.multipart_threshold
    body = {
        "items": [
            entry("good.png"),
            entry("../escape.png"),
            entry("big.png", stack.config.max_upload_bytes + 1),
            entry("typed.png", content_type="image"),
            entry("multipart.bin", threshold + 1),
            entry("also-good.png", 7, sha256="a" * 64),
        ]
    }
    results = editor.call("POST", f"{items_path(dataset_id)}/bulk", json=body)["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, 201), (1, 400), (2, 413), (3, 400), (4, 400), (5, 201)]
    assert "plain file name" in results[1]["error"] and "upload in parts" in results[4]["error"]
    assert results[5]["item"]["sha256"] == "a" * 64
    pending = sorted(i["filename"] for i in editor.pages(items_path(dataset_id), status="pending"))
    assert pending == ["also-good.png", "good.png"]
    # completes: one sent, one never sent, one unknown, one not an id
    send(stack, results[0]["upload"], b"1234")
    ids = [results[0]["item"]["id"], results[5]["item"]["id"], "0" * 26, "nope"]
    done = editor.call("POST", f"{items_path(dataset_id)}/complete", json={"item_ids": ids})["results"]
    assert [(r["item_id"], r["status"]) for r in done] == list(zip(ids, [200, 409, 404, 404], strict=True))
    assert "not in storage yet" in done[1]["error"] and "item" not in done[1]


def test_a_multipart_item_completes_alone(stack, dataset):
    editor, dataset_id = dataset
    ticket = editor.call(
        "POST", items_path(dataset_id), json={"filename": "m.bin", "content_type": "image/png", "size": 7 * MiB}
    )
    done = editor.call("POST", f"{items_path(dataset_id)}/complete", json={"item_ids": [ticket["item"]["id"]]})
    (result,) = done["results"]
    assert result["status"] == 400 and "parts" in result["error"]


def test_the_item_quota_holds_a_batch_to_its_boundary(stack, dataset):
    editor, dataset_id = dataset
    stack.edna.quotas.set("demo", {"max_items": 4})
    editor.upload(dataset_id, "held.png", b"1234", "image/png")
    body = {"items": [entry(f"f{n}.png") for n in range(4)]}
    results = editor.call("POST", f"{items_path(dataset_id)}/bulk", json=body)["results"]
    assert [r["status"] for r in results] == [201, 201, 201, 429]
    assert "item quota" in results[3]["error"] and "4 of 4 items" in results[3]["error"]
    before = holdings(stack, dataset_id)
    assert before[0][0] == 4
    # full: a whole batch is refused entry by entry and writes nothing
    results = editor.call("POST", f"{items_path(dataset_id)}/bulk", json=body)["results"]
    assert {r["status"] for r in results} == {429}
    assert holdings(stack, dataset_id) == before


def test_the_byte_quota_admits_what_fits_in_order(stack, dataset):
    editor, dataset_id = dataset
    stack.edna.quotas.set("demo", {"max_bytes": 100})
    sizes = [40, 50, 20, 10, 1]  # 40+50 fit; 20 would make 110; 10 makes 100; 1 would make 101
    results = editor.call(
        "POST", f"{items_path(dataset_id)}/bulk", json={"items": [entry(f"f{s}.png", s) for s in sizes]}
    )["results"]
    assert [r["status"] for r in results] == [201, 201, 429, 201, 429]
    assert "storage quota" in results[2]["error"]
    assert stack.edna.adapters.index.holdings("demo") == (3, 100)


def test_a_batch_counts_once_against_the_request_quota(local_stack):
    stack = local_stack
    stack.edna.quotas.set("demo", {"requests_per_minute": 2})
    token = stack.token("editor-demo", "demo", "editor")
    wait_until_not_near_a_new_minute()
    dataset_id = raw(stack, "POST", "/api/datasets", token, json={"name": "d"}).json()["id"]
    body = {"items": [entry(f"f{n}.png") for n in range(50)]}
    resp = raw(stack, "POST", f"{items_path(dataset_id)}/bulk", token, json=body)
    assert resp.status_code == 200 and [r["status"] for r in resp.json()["results"]] == [201] * 50
    refused = raw(stack, "POST", f"{items_path(dataset_id)}/bulk", token, json=body)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("bulk", {}),
        ("bulk", {"items": []}),
        ("bulk", {"items": "f.png"}),
        ("bulk", {"items": [{"filename": "f.png"}]}),
        ("bulk", {"items": [entry("f.png", "4")]}),
        ("bulk", {"items": [entry("f.png", extra=1)]}),
        ("bulk", {"items": [entry(f"f{n}.png") for n in range(1001)]}),
        ("complete", {}),
        ("complete", {"item_ids": []}),
        ("complete", {"item_ids": [1]}),
        ("complete", {"item_ids": ["x" * 65]}),
        ("complete", {"item_ids": ["0" * 26] * 1001}),
    ],
)
def test_malformed_batches_are_refused_whole_and_write_nothing(stack, dataset, route, body):
    _, dataset_id = dataset
    token = stack.token("editor-demo", "demo", "editor")
    resp = raw(stack, "POST", f"{items_path(dataset_id)}/{route}", token, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"]
    assert [o.key for o in stack.edna.blobs.iter_objects("tenants/")] == [
        f"tenants/demo/datasets/{dataset_id}/dataset.json"
    ]


def test_other_tenants_and_low_roles_reach_nothing(stack, dataset):
    editor, dataset_id = dataset
    body = {"items": [entry("f.png")]}
    labeler = stack.token("labeler-demo", "demo", "labeler")
    assert raw(stack, "POST", f"{items_path(dataset_id)}/bulk", labeler, json=body).status_code == 403
    other = stack.token("editor-acme", "acme", "editor")
    assert raw(stack, "POST", f"{items_path(dataset_id)}/bulk", other, json=body).status_code == 404
    ticket = editor.call("POST", f"{items_path(dataset_id)}/bulk", json=body)["results"][0]
    send(stack, ticket["upload"], b"1234")
    complete = {"item_ids": [ticket["item"]["id"]]}
    assert raw(stack, "POST", f"{items_path(dataset_id)}/complete", other, json=complete).status_code == 404
    assert raw(stack, "POST", f"{items_path(dataset_id)}/complete", labeler, json=complete).status_code == 403
    assert raw(stack, "POST", f"{items_path(dataset_id)}/complete", "forged.token.x", json=complete).status_code == 401
