"""Untrusted ONNX models against a real server: external data never reads the server's files, and
jobs load only the bytes that `complete` checked (issue 12, finding 1 and the model half of 4)."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from real_server import ROOT

from service.adapters.blobstore import BlobStore
from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.blobstore.s3 import S3BlobStore
from service.client import ApiError, EdnaClient
from service.vocabulary import layout
from tests.engine.digits import DIGITS_SPEC, digit_items, digits_model
from tests.engine.hostile_models import leaking_model

pytest_plugins = ["attack_harness"]

JOB_DEADLINE = 180  # seconds a two-item job may take on two busy cores (a bound, not a measurement)
CANARY = "canary.txt"
# Relative to the data dir (where `make run` keeps them), to the server's working directory, and a
# file the test plants in the data dir.
LOCATIONS = ["demo-credentials.json", "keys/issuer.pem", ".edna/demo-credentials.json", "pyproject.toml", CANARY]


def direct_store(target) -> BlobStore:
    """Storage as an operator (or a stale upload URL) reaches it, around the API."""
    if target.store == "s3":
        return S3BlobStore(target.bucket, endpoint_url=target.moto_endpoint)
    return LocalBlobStore(target.data_dir / "blobs")


def secrets_on_disk(target) -> list[bytes]:
    """Contents a leak would show: files of the data dir and of the server's working directory."""
    canary = target.data_dir / CANARY
    if not canary.exists():
        canary.write_text(f"canary-{secrets.token_hex(16)}\n")
    files = [canary, target.data_dir / "keys" / "issuer.pem", ROOT / "pyproject.toml"]
    return [f.read_bytes() for f in files if f.exists()]


def assert_nothing_leaked(text: str, contents: list[bytes]) -> None:
    for content in contents:
        head = content[:24]
        assert head.decode(errors="replace") not in text
        assert ",".join(str(b) for b in head[:8]) not in text  # onnxruntime prints bytes as shape values


def register(client: EdnaClient, name: str, onnx: bytes) -> tuple[str, dict]:
    """(model id, the complete call's answer or the 422's body)."""
    body = {"name": name, "class_names": DIGITS_SPEC["class_names"], "input": DIGITS_SPEC["input"], "size": len(onnx)}
    ticket = client.call("POST", "/api/models", json=body)
    model_id = ticket["model"]["id"]
    client.transfer(ticket["upload"], onnx, "application/octet-stream")
    try:
        return model_id, client.call("POST", f"/api/models/{model_id}/complete", json={})
    except ApiError as e:
        assert e.status == 422, e
        return model_id, e.body if isinstance(e.body, dict) else {"message": e.body}


def run_job(client: EdnaClient, model_id: str) -> dict:
    """A job of the model over a dataset of two digits, waited for; its final answer."""
    dataset = client.call("POST", "/api/datasets", json={"name": f"d-{secrets.token_hex(3)}"})
    for key, png, _ in digit_items(2):
        client.upload(dataset["id"], key.rsplit("/", 1)[-1], png, "image/png")
    job = client.call("POST", "/api/jobs", json={"dataset_id": dataset["id"], "model_id": model_id})
    deadline = time.monotonic() + JOB_DEADLINE
    while time.monotonic() < deadline:
        body = client.call("GET", f"/api/jobs/{job['id']}")
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job['id']} not finished after {JOB_DEADLINE} s")


def test_external_data_models_are_refused_at_complete_and_removed(target):
    contents = secrets_on_disk(target)
    tenant = target.tenant()
    editor = tenant.clients["editor"]
    answers = []
    for location in LOCATIONS:
        model_id, answer = register(editor, f"steal {location}", leaking_model(location))
        answers.append(json.dumps(answer))
        assert "external data" in json.dumps(answer), answer
        record = editor.call("GET", f"/api/models/{model_id}")
        answers.append(json.dumps(record))
        assert record["status"] == "invalid"
        assert record["errors"] == [
            "tensor 'secret' stores its data outside the model file (external data), which Edna does not load"
        ]
        assert direct_store(target).head(layout.model_file(tenant.name, model_id)) is None
    assert_nothing_leaked("\n".join(answers), contents)


def test_a_model_swapped_after_its_check_fails_its_job_clearly(target):
    contents = secrets_on_disk(target)
    tenant = target.tenant()
    editor = tenant.clients["editor"]
    model_id, model = register(editor, "good", digits_model("logistic"))
    assert model["status"] == "available"
    # Stands for any write around the API: a replayed upload URL, MWAA loading a file changed since.
    key = layout.model_file(tenant.name, model_id)
    direct_store(target).put_bytes(key, leaking_model(CANARY), "application/octet-stream")
    job = run_job(editor, model_id)
    assert job["status"] == "failed"
    assert job["error"] == "ModelChanged: the model file changed after it was checked; register it again"
    assert_nothing_leaked(json.dumps(job), contents)


@pytest.mark.parametrize("location", ["pyproject.toml", CANARY, "keys/issuer.pem"])
def test_a_job_error_never_holds_the_servers_files(target, location):
    # A record from before checksums (no sha256) over swapped bytes: only the engine's own refusal
    # stands between the model and the worker's disk.
    contents = secrets_on_disk(target)
    tenant = target.tenant()
    editor = tenant.clients["editor"]
    model_id, _ = register(editor, "legacy", digits_model("logistic"))
    store = direct_store(target)
    record = json.loads(store.get_bytes(layout.model_spec(tenant.name, model_id)))
    record.pop("sha256", None)
    store.put_bytes(layout.model_spec(tenant.name, model_id), json.dumps(record).encode(), "application/json")
    store.put_bytes(layout.model_file(tenant.name, model_id), leaking_model(location), "application/octet-stream")
    job = run_job(editor, model_id)
    assert job["status"] == "failed"
    assert job["error"].startswith("ExternalData: tensor 'secret' stores its data outside the model file")
    assert_nothing_leaked(json.dumps(job), contents)
