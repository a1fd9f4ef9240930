"""Each quota refuses exactly at its limit with 429 naming the quota and the figure, and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from digits import fill_digits, models, register, wait_for
from tally import audit_entries, raw, storage_keys, wait_until_not_near_a_new_minute

from service.client import ApiError
from service.demo import CLASSES


def request_upload(stack, token: str, dataset_id: str, size: int):
    body = {"filename": "f.bin", "content_type": "application/octet-stream", "size": size}
    return raw(stack, "POST", f"/api/datasets/{dataset_id}/items", token, json=body)


def holdings(stack, dataset_id: str) -> tuple:
    """What the index and the storage hold of the tenant: nothing may change on a refusal."""
    pending = list(stack.client("viewer").pages(f"/api/datasets/{dataset_id}/items", status="pending"))
    return stack.edna.adapters.index.holdings("demo"), sorted(i["id"] for i in pending), storage_keys(stack)


def refused(resp, *words: str, retry_after: int | None = None) -> str:
    """A 429 naming `words`, with a Retry-After in whole seconds (`retry_after` exactly, when given)."""
    assert resp.status_code == 429, resp.text
    assert int(resp.headers["Retry-After"]) == retry_after if retry_after else int(resp.headers["Retry-After"]) >= 1
    message = resp.json()["message"]
    for word in words:
        assert word in message, message
    return message


def set_by_command(stack, tenant: str, *flags: str) -> str:
    """`python -m service quota set`, run as an operator runs it, over the server's storage."""
    env = dict(os.environ)
    if stack.store == "s3":
        env.update(
            EDNA_STORAGE="s3", EDNA_S3_BUCKET=stack.config.s3_bucket, EDNA_S3_ENDPOINT_URL=stack.config.s3_endpoint_url
        )
    command = [sys.executable, "-m", "service", "quota", "set", "--tenant", tenant, *flags]
    return subprocess.run(
        [*command, "--data-dir", str(stack.config.data_dir)], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_item_quota(stack):
    # by the operators' command, before this server first reads demo's quotas (it keeps them 30 s)
    out = set_by_command(stack, "demo", "--max-items", "3")
    assert "max_items" in out and "(set for this tenant)" in out
    editor = stack.client("editor")
    token = stack.token("editor-demo", "demo", "editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    editor.upload(dataset["id"], "done.bin", b"12345", "application/octet-stream")  # available counts
    assert all(request_upload(stack, token, dataset["id"], 10).status_code == 201 for _ in range(2))  # pending count
    before = holdings(stack, dataset["id"])
    assert before[0] == (3, 25)
    resp = request_upload(stack, token, dataset["id"], 10)
    refused(resp, "item quota", "3 of 3 items", retry_after=3600)
    assert holdings(stack, dataset["id"]) == before
    # the size is checked before the quota: a size refused anyway says so
    assert request_upload(stack, token, dataset["id"], stack.config.max_upload_bytes + 1).status_code == 413
    # the refusal is audited like any mutation
    (entry,) = [e for e in audit_entries(stack.client("admin")) if e["request_id"] == resp.headers["X-Request-Id"]]
    assert (entry["status"], entry["outcome"]) == (429, "refused")
    assert entry["action"] == "POST /api/datasets/{dataset_id}/items"
    # other tenants keep the default
    other = stack.client("editor", "acme")
    elsewhere = other.call("POST", "/api/datasets", json={"name": "d"})
    other.upload(elsewhere["id"], "x.bin", b"x", "application/octet-stream")
    # deleting an item makes room again
    pending = before[1][0]
    editor.call("DELETE", f"/api/datasets/{dataset['id']}/items/{pending}")
    assert request_upload(stack, token, dataset["id"], 10).status_code == 201


def test_byte_quota_refuses_at_signing_time(stack):
    editor = stack.client("editor")
    token = stack.token("editor-demo", "demo", "editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    stack.edna.quotas.set("demo", {"max_bytes": 100})
    assert request_upload(stack, token, dataset["id"], 60).status_code == 201
    before = holdings(stack, dataset["id"])
    refused(request_upload(stack, token, dataset["id"], 41), "storage quota", "41 bytes", "60 of 100 bytes")
    assert holdings(stack, dataset["id"]) == before
    assert request_upload(stack, token, dataset["id"], 40).status_code == 201  # exactly at the limit: fine
    refused(request_upload(stack, token, dataset["id"], 1), "100 of 100 bytes")
    # back to the default: allowed again
    stack.edna.quotas.set("demo", {"max_bytes": None})
    assert request_upload(stack, token, dataset["id"], 1).status_code == 201


def jobs_in_storage(stack) -> list[str]:
    return storage_keys(stack, "tenants/demo/jobs/")


def test_concurrent_job_quota(local_stack):
    stack = local_stack
    editor = stack.client("editor")
    token = stack.token("editor-demo", "demo", "editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})
    fill_digits(stack, dataset["id"], 5)
    model_ids = [register(editor, name, models()["digits-logistic-regression"])["id"] for name in ("a", "b")]
    one_job = {"dataset_id": dataset["id"], "model_id": model_ids[0]}
    both = {"dataset_id": dataset["id"], "model_ids": model_ids}

    stack.edna.quotas.set("demo", {"max_concurrent_jobs": 0})
    refused(raw(stack, "POST", "/api/jobs", token, json=one_job), "concurrent job quota", "0 of 0 jobs", retry_after=30)
    assert jobs_in_storage(stack) == [] and list(editor.pages("/api/jobs")) == []

    stack.edna.quotas.set("demo", {"max_concurrent_jobs": 2})
    first = editor.call("POST", "/api/jobs", json=one_job)  # queued: its worker takes a second to start
    assert first["status"] in ("queued", "running")
    written = jobs_in_storage(stack)
    refused(raw(stack, "POST", "/api/comparisons", token, json=both), "1 of 2 jobs", "this needs 2")
    assert jobs_in_storage(stack) == written and list(editor.pages("/api/comparisons")) == []
    second = editor.call("POST", "/api/jobs", json=one_job)  # the last one left
    written = jobs_in_storage(stack)
    refused(raw(stack, "POST", "/api/jobs", token, json=one_job), "2 of 2 jobs are queued or running")
    assert jobs_in_storage(stack) == written and len(list(editor.pages("/api/jobs"))) == 2

    # finished jobs no longer count
    for job in (first, second):
        editor.call("POST", f"/api/jobs/{job['id']}/cancel", expect=(202, 409))
        wait_for(editor, f"/api/jobs/{job['id']}")
    third = editor.call("POST", "/api/comparisons", json=both)
    for job_id in third["job_ids"]:
        editor.call("POST", f"/api/jobs/{job_id}/cancel", expect=(202, 409))
    wait_for(editor, f"/api/comparisons/{third['id']}")


def test_request_quota_per_minute(local_stack):
    stack = local_stack
    stack.edna.quotas.set("rpm", {"requests_per_minute": 5})
    wait_until_not_near_a_new_minute()
    limited = stack.client("viewer", "rpm")
    for _ in range(5):
        limited.call("GET", "/api/me")
    with pytest.raises(ApiError) as err:
        limited.call("GET", "/api/datasets")
    assert err.value.status == 429
    assert "request quota" in err.value.body["message"] and "5 of 5 requests this minute" in err.value.body["message"]
    mutation = raw(stack, "POST", "/api/datasets", stack.token("boss", "rpm", "admin"), json={"name": "x"})
    refused(mutation, "request quota")
    assert int(mutation.headers["Retry-After"]) <= 60  # when the next minute's window opens
    assert storage_keys(stack, "tenants/rpm/") == []
    # other tenants are not limited by rpm's quota
    assert all(stack.client("viewer", "demo").call("GET", "/api/me") for _ in range(10))
