"""Quotas hold under concurrency and cover everything stored, against a real server on either blob store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from attack_harness import demo_model, register_model, started
from conftest import STORES

from service.demo import CLASSES, DIGITS_INPUT

pytest_plugins = ["attack_harness"]


@pytest.fixture(scope="module", params=STORES)
def idle_jobs_target(request, tmp_path_factory, moto_endpoint):
    """A server whose job runner starts nothing, so every accepted job stays queued and holds its slot."""
    data_dir = tmp_path_factory.mktemp(f"quota-{request.param}") / "data"
    with started(request.param, data_dir, moto_endpoint, job_workers=0) as target:
        yield target


def all_at_once(count: int, send) -> list[requests.Response]:
    """`count` requests released together by a barrier, each on its own connection."""
    barrier = threading.Barrier(count)

    def one(n: int) -> requests.Response:
        barrier.wait()
        return send(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def bearer(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


def test_simultaneous_job_starts_take_at_most_the_quota(idle_jobs_target):
    target = idle_jobs_target
    tenant = target.tenant(max_concurrent_jobs=4)
    editor = tenant.clients["editor"]
    dataset = editor.call("POST", "/api/datasets", json={"name": "d", "label_classes": CLASSES})
    model = register_model(editor)
    body = {"dataset_id": dataset["id"], "model_id": model["id"]}
    url, headers = target.base_url + "/api/jobs", bearer(editor)

    answers = all_at_once(12, lambda _: requests.post(url, json=body, headers=headers, timeout=60))

    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 4 + [429] * 8, [r.text for r in answers if r.status_code not in (202, 429)]
    assert all("4 of 4 jobs are queued or running" in r.json()["message"] for r in answers if r.status_code == 429)
    started_ids = {r.json()["id"] for r in answers if r.status_code == 202}
    assert {j["id"] for j in editor.pages("/api/jobs")} == started_ids
    # a comparison needs two more slots: refused whole, no job of it written
    second = register_model(editor, name="lr2")
    refused = editor.session.post(
        target.base_url + "/api/comparisons",
        json={"dataset_id": dataset["id"], "model_ids": [model["id"], second["id"]]},
        headers=headers,
        timeout=60,
    )
    assert refused.status_code == 429 and "this needs 2" in refused.json()["message"]
    assert {j["id"] for j in editor.pages("/api/jobs")} == started_ids
    # a finished job gives its slot back
    editor.call("POST", f"/api/jobs/{sorted(started_ids)[0]}/cancel", expect=(202,))
    assert editor.call("POST", "/api/jobs", json=body, expect=(202,))["status"] == "queued"


def test_simultaneous_upload_requests_take_at_most_the_room_left(idle_jobs_target):
    target = idle_jobs_target
    tenant = target.tenant(max_items=7)
    editor = tenant.clients["editor"]
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    for n in range(2):
        editor.upload(dataset["id"], f"kept{n}.bin", b"kept", "application/octet-stream")
    url, headers = f"{target.base_url}/api/datasets/{dataset['id']}/items", bearer(editor)

    def ask(n: int) -> requests.Response:
        body = {"filename": f"f{n}.bin", "content_type": "application/octet-stream", "size": 10}
        return requests.post(url, json=body, headers=headers, timeout=60)

    answers = all_at_once(40, ask)

    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 5 + [429] * 35, [r.text for r in answers if r.status_code not in (201, 429)]
    assert all("7 of 7 items" in r.json()["message"] for r in answers if r.status_code == 429)
    listed = list(editor.pages(f"/api/datasets/{dataset['id']}/items"))
    assert len(listed) == 7 and sum(i["status"] == "pending" for i in listed) == 5
    assert tenant.clients["admin"].call("GET", "/api/usage")["stored"]["items"] == 7


def test_model_files_count_in_the_storage_quota_and_usage(idle_jobs_target):
    target = idle_jobs_target
    model_size = len(demo_model())
    tenant = target.tenant(max_bytes=model_size + 100)
    editor, admin = tenant.clients["editor"], tenant.clients["admin"]
    register_model(editor)
    assert admin.call("GET", "/api/usage")["stored"] == {"items": 0, "bytes": model_size}

    body = {"name": "big", "class_names": CLASSES, "input": DIGITS_INPUT, "size": 1_000_000}
    big = editor.session.post(target.base_url + "/api/models", json=body, headers=bearer(editor), timeout=60)
    assert big.status_code == 429 and "storage quota" in big.json()["message"]
    assert [m["name"] for m in editor.pages("/api/models")] == ["lr"]
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    item = {"filename": "x.bin", "content_type": "application/octet-stream", "size": 101}
    refused = editor.session.post(
        f"{target.base_url}/api/datasets/{dataset['id']}/items", json=item, headers=bearer(editor), timeout=60
    )
    assert refused.status_code == 429 and f"{model_size} of {model_size + 100} bytes" in refused.json()["message"]


def test_simultaneous_creates_of_one_name_make_one_dataset(idle_jobs_target):
    target = idle_jobs_target
    editor = target.tenant().clients["editor"]
    url, headers = target.base_url + "/api/datasets", bearer(editor)

    answers = all_at_once(
        10, lambda n: requests.post(url, json={"name": "Same" if n % 2 else "same"}, headers=headers, timeout=60)
    )

    assert sorted(r.status_code for r in answers) == [201] + [409] * 9
    assert len(list(editor.pages("/api/datasets"))) == 1
