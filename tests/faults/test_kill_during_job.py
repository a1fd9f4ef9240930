"""SIGKILL of the service (and its job worker) in the middle of a local inference job, then a restart.

The restarted service resumes the unfinished job (`cmd_run` submits it again; the engine replays
the parts already written) and it ends `succeeded` with exactly one prediction per item.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from real_server import Server, add_user

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.client import EdnaClient
from service.demo import CLASSES, DIGITS_INPUT, digit_models, digit_pngs
from service.domain.indexing import Indexer
from service.vocabulary import layout
from service.vocabulary.ids import new_id

TENANT = "acme"
BATCH = 4  # small parts: the job takes seconds, and a kill lands between parts and inside one
DEADLINE = 120  # seconds the resumed job may take (a bound, not a measurement)


def fill_digits(data_dir, dataset_id: str) -> int:
    """The 1,797 digits as labeled objects in the data dir, indexed: the operator's import path, in-process."""
    blobs = LocalBlobStore(data_dir / "blobs")
    indexer = Indexer(blobs, SqliteSearchIndex(data_dir / "index.db"))
    digits = digit_pngs()

    def put(entry: tuple[str, bytes, int]) -> None:
        name, png, target = entry
        item = layout.ItemKey(TENANT, dataset_id, new_id(), name)
        blobs.put_bytes(item.object_key, png, "image/png")
        blobs.put_tags(item.object_key, {"label": str(target)})
        indexer.refresh(item)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, digits))
    return len(digits)


def register_model(client: EdnaClient) -> str:
    name, onnx = dict(digit_models()).popitem()  # the random forest: the slower of the two
    body = {"name": name, "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx)}
    ticket = client.call("POST", "/api/models", json=body)
    parts = client.transfer(ticket["upload"], onnx, "application/octet-stream")
    return client.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={"parts": parts} if parts else {})[
        "id"
    ]


def wait_job(client: EdnaClient, job_id: str, done, deadline: float = DEADLINE) -> dict:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        job = client.call("GET", f"/api/jobs/{job_id}")
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job} after {deadline} s")


def test_sigkill_during_a_job_resumes_it_with_one_prediction_per_item(tmp_path):
    data_dir = tmp_path / "data"
    user, password = add_user(data_dir)
    server = Server(data_dir).start()
    try:
        client = server.client(user, password)
        dataset_id = client.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})["id"]
        total = fill_digits(data_dir, dataset_id)
        model_id = register_model(client)
        items = {i["id"] for i in client.pages(f"/api/datasets/{dataset_id}/items")}
        assert len(items) == total

        body = {"dataset_id": dataset_id, "model_id": model_id, "batch_size": BATCH}
        job_id = client.call("POST", "/api/jobs", json=body)["id"]
        running = wait_job(client, job_id, lambda j: j["status"] == "running" and j["progress"]["done"] >= total // 4)
        assert running["progress"]["done"] < total, "the job finished before the kill: make it slower"
        server.kill()  # the server and its job worker, mid-job (kill() checks the whole group is gone)

        server.start()
        client = server.client(user, password)
        job = wait_job(client, job_id, lambda j: j["status"] in ("succeeded", "failed", "cancelled"))
        assert job["status"] == "succeeded", job
        assert job["progress"] == {"done": total, "total": total}
        assert "resumed 1 unfinished job" in server.tail(200)

        predictions = list(client.pages(f"/api/jobs/{job_id}/predictions"))
        counts = Counter(p["item_id"] for p in predictions)
        assert [i for i, n in counts.items() if n > 1] == [], "duplicated predictions"
        assert len(predictions) == total and set(counts) == items
        assert all(p["error"] is None and p["predicted"] in CLASSES for p in predictions)
        metrics = job["metrics"]
        assert sum(map(sum, metrics["confusion"])) == total, "the metrics count every item once"
        print(f"killed at {running['progress']['done']}/{total}; accuracy {metrics['accuracy']:.3f}")
    finally:
        server.kill()
