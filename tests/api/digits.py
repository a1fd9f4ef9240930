"""Helpers for tests that need the demo's digits and models: built once per session, shared."""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor

from service.client import EdnaClient
from service.demo import CLASSES, DIGITS_INPUT, digit_embedding_model, digit_models, digit_pngs
from service.vocabulary import layout
from service.vocabulary.ids import new_id

DEADLINE = 240  # seconds a job may take here before the test gives up (a bound, not a measurement)


@functools.cache
def models() -> dict[str, bytes]:
    return dict(digit_models())


@functools.cache
def embedding_model() -> bytes:
    """The demo's embedding-only model of the digits (its output is named "embedding")."""
    return digit_embedding_model()


@functools.cache
def digits() -> list[tuple[str, bytes, int]]:
    return digit_pngs()


def fill_digits(stack, dataset_id: str, count: int | None = None) -> None:
    """The digits as objects already in storage, labeled with their class (the import path)."""
    edna = stack.edna

    def put(entry: tuple[str, bytes, int]) -> None:
        name, png, target = entry
        item = layout.ItemKey("demo", dataset_id, new_id(), name)
        edna.blobs.put_bytes(item.object_key, png, "image/png")
        edna.blobs.put_tags(item.object_key, {"label": str(target)})
        if stack.store != "local":  # the local store's own events indexed it already
            edna.indexer.refresh(item)

    with ThreadPoolExecutor(8) as pool:  # storage round trips overlap (moto serves threads)
        list(pool.map(put, digits()[:count]))


def register(client: EdnaClient, name: str, onnx: bytes, **changes) -> dict:
    body = {"name": name, "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx), **changes}
    ticket = client.call("POST", "/api/models", json=body)
    client.transfer(ticket["upload"], onnx, "application/octet-stream")
    return client.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={})


def wait_for(client: EdnaClient, path: str, done=lambda body: body["status"] in ("succeeded", "failed", "cancelled")):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        body = client.call("GET", path)
        if done(body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{path} not finished after {DEADLINE} s: {body}")


def delete_dataset(client: EdnaClient, dataset_id: str) -> dict:
    """DELETE a dataset (202: at once gone from listings) and follow its deletion until it is done."""
    deletion = client.call("DELETE", f"/api/datasets/{dataset_id}", expect=(202,))
    assert deletion["dataset_id"] == dataset_id and deletion["status"] in ("queued", "running", "succeeded")
    done = wait_for(client, f"/api/datasets/{dataset_id}/deletion", lambda body: body["status"] == "succeeded")
    assert done["progress"]["done"] == done["progress"]["total"], done
    return done
