"""Deleting a dataset answers 202 at once: the dataset and its items leave every listing and search
before any object goes; the objects then go page by page, and a deletion cut short resumes."""

from __future__ import annotations

import contextlib
import errno
import json
import threading
from collections.abc import Iterator

import pytest
from digits import delete_dataset, wait_for
from tally import raw

from service.domain import dataset_deletions
from service.domain.dataset_deletions import DatasetDeletions
from service.handlers import sqs_s3_events
from service.vocabulary import layout
from service.vocabulary.roles import Principal, Role
from tests.api.test_events import s3_record


@contextlib.contextmanager
def deletions_held(stack) -> Iterator[threading.Event]:
    """The server's deletion worker kept busy: a deletion accepted meanwhile waits, queued, until the block ends."""
    release = threading.Event()
    stack.edna.deletions._pool.submit(release.wait)
    try:
        yield release
    finally:
        release.set()


def dataset_with_items(client, name: str, count: int) -> tuple[str, list[str]]:
    dataset_id = client.call("POST", "/api/datasets", json={"name": name})["id"]
    ids = [client.upload(dataset_id, f"{name}-{n}.png", b"x" * (n + 1), "image/png")["id"] for n in range(count)]
    return dataset_id, ids


def dataset_keys(stack, dataset_id: str) -> list[str]:
    """Every key of the dataset's (its deletion's record and marker aside)."""
    ours = (layout.dataset_deletion("demo", dataset_id), layout.deleting_marker("demo", dataset_id))
    return [o.key for o in stack.edna.blobs.iter_objects("tenants/demo/") if dataset_id in o.key and o.key not in ours]


def test_a_deleted_dataset_and_its_items_are_gone_from_everything_at_once(stack):
    admin = stack.client("admin")
    doomed, _ = dataset_with_items(admin, "doomed", 3)
    kept, _ = dataset_with_items(admin, "kept", 1)
    with deletions_held(stack):
        resp = raw(stack, "DELETE", f"/api/datasets/{doomed}", stack.token("alice", "demo", "admin"))
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        assert (accepted["status"], accepted["progress"]) == ("queued", {"done": 0, "total": 3})
        assert dataset_keys(stack, doomed)  # nothing deleted yet
        assert [d["id"] for d in admin.pages("/api/datasets")] == [kept]
        assert admin.call("GET", f"/api/datasets/{doomed}", expect=(404,))
        assert admin.call("GET", f"/api/datasets/{doomed}/items", expect=(404,))
        assert [i["dataset_id"] for i in admin.pages("/api/search", q="png")] == [kept]
        assert admin.call("GET", "/api/search/count", params={"q": "doomed"}) == {"count": 0}
        upload = {"filename": "late.png", "content_type": "image/png", "size": 1}
        assert admin.call("POST", f"/api/datasets/{doomed}/items", json=upload, expect=(404,))
        again = admin.call("DELETE", f"/api/datasets/{doomed}", expect=(202,))  # the same deletion answers
        assert again["id"] == accepted["id"]
        assert admin.call("GET", f"/api/datasets/{doomed}/deletion")["status"] == "queued"
    done = wait_for(admin, f"/api/datasets/{doomed}/deletion", lambda body: body["status"] == "succeeded")
    assert done["progress"] == {"done": 3, "total": 3} and done["finished_at"]
    assert dataset_keys(stack, doomed) == []
    assert stack.edna.blobs.head(layout.deleting_marker("demo", doomed)) is None
    assert admin.call("GET", f"/api/datasets/{kept}")["item_count"] == 1
    # a name freed by a deletion can be taken again
    assert admin.call("POST", "/api/datasets", json={"name": "doomed"}, expect=(201,))


def test_a_deletion_cut_short_resumes_from_its_cursor_after_a_restart(local_stack, stack_over, monkeypatch):
    stack = local_stack
    monkeypatch.setattr(dataset_deletions, "PAGE", 2)
    monkeypatch.setattr(dataset_deletions, "SLICE_SECONDS", 0.0)  # on_key: one page per call, as a slice on AWS
    admin = stack.client("admin")
    doomed, _ = dataset_with_items(admin, "doomed", 5)
    record = layout.dataset_deletion("demo", doomed)
    with deletions_held(stack):
        admin.call("DELETE", f"/api/datasets/{doomed}", expect=(202,))
        stack.edna.deletions.on_key(record)  # one page, then queued again with its cursor
        cut = admin.call("GET", f"/api/datasets/{doomed}/deletion")
        assert (cut["status"], cut["progress"]) == ("queued", {"done": 2, "total": 5})
        stack.app.extensions["edna"].close()  # the server stops before its worker takes the deletion up
    assert len(dataset_keys(stack, doomed)) > 1  # the other three items, the record
    with stack_over("local", stack.config.data_dir) as restarted:
        assert restarted.edna.deletions.resume_unfinished() == 1  # as `python -m service run` does on start
        client = restarted.client("admin")
        done = wait_for(client, f"/api/datasets/{doomed}/deletion", lambda body: body["status"] == "succeeded")
        assert done["progress"] == {"done": 5, "total": 5}
        assert dataset_keys(restarted, doomed) == []
        assert restarted.edna.deletions.resume_unfinished() == 0


def test_deletions_are_refused_to_other_tenants_and_low_roles(stack):
    admin = stack.client("admin")
    doomed, _ = dataset_with_items(admin, "doomed", 1)
    path = f"/api/datasets/{doomed}"
    for token in (stack.token("eddie", "demo", "editor"), stack.token("ann", "acme", "admin"), "forged.token.x"):
        assert raw(stack, "DELETE", path, token).status_code in (401, 403, 404)
    assert raw(stack, "DELETE", path, stack.token("ann", "acme", "admin")).status_code == 404
    assert raw(stack, "GET", f"{path}/deletion", stack.token("ann", "acme", "admin")).status_code == 404
    assert raw(stack, "GET", f"{path}/deletion", stack.token("vic", "demo", "viewer")).status_code == 404  # none yet
    viewer = stack.token("vic", "demo", "viewer")
    assert raw(stack, "GET", "/api/datasets/not-an-id/deletion", viewer).status_code == 404
    assert admin.call("GET", path)["item_count"] == 1  # nothing changed
    delete_dataset(admin, doomed)
    assert raw(stack, "GET", f"{path}/deletion", stack.token("ann", "acme", "admin")).status_code == 404


@pytest.mark.parametrize("count", [0, 7])
def test_a_deletion_reports_every_item_removed(stack, count, monkeypatch):
    monkeypatch.setattr(dataset_deletions, "PAGE", 3)  # several pages
    admin = stack.client("admin")
    doomed, _ = dataset_with_items(admin, f"d{count}", count)
    done = delete_dataset(admin, doomed)
    assert done["progress"] == {"done": count, "total": count}
    assert dataset_keys(stack, doomed) == []


def test_on_aws_each_slice_runs_where_the_record_event_arrives_and_queues_the_next(stack, monkeypatch):
    monkeypatch.setattr(dataset_deletions, "PAGE", 2)
    monkeypatch.setattr(dataset_deletions, "SLICE_SECONDS", 0.0)  # one page per slice
    edna = stack.edna
    admin = stack.client("admin")
    doomed, _ = dataset_with_items(admin, "doomed", 5)
    api_side = DatasetDeletions(edna.blobs, edna.adapters.index, edna.vectors, edna.datasets, in_process=False)
    indexer_side = DatasetDeletions(edna.blobs, edna.adapters.index, edna.vectors, edna.datasets, in_process=False)
    principal = Principal("alice", "demo", (Role.admin.name,))
    assert api_side.start(principal, doomed)["status"] == "queued"
    key = layout.dataset_deletion("demo", doomed)
    body = json.dumps({"Records": [s3_record("ObjectCreated:Put", key)]})
    events = {"Records": [{"messageId": "m-1", "body": body}]}
    slices = []
    while (deletion := api_side.get("demo", doomed))["status"] == "queued" and len(slices) < 20:
        assert sqs_s3_events(events, indexer=edna.indexer, deletions=indexer_side) == {"batchItemFailures": []}
        slices.append(api_side.get("demo", doomed)["progress"]["done"])
    assert deletion["status"] == "succeeded" and deletion["progress"] == {"done": 5, "total": 5}
    assert slices[:3] == [2, 4, 5]  # a page each, then the rest of storage, the thumbnails, the record
    assert dataset_keys(stack, doomed) == []
    before = edna.blobs.get_bytes(key)
    assert sqs_s3_events(events, indexer=edna.indexer, deletions=indexer_side) == {"batchItemFailures": []}
    assert edna.blobs.get_bytes(key) == before  # a repeated event finds it done


def test_a_deletion_that_failed_resumes_from_its_cursor_when_asked_again(local_stack, monkeypatch):
    stack = local_stack
    monkeypatch.setattr(dataset_deletions, "PAGE", 2)
    admin = stack.client("admin")
    doomed, _ = dataset_with_items(admin, "doomed", 5)
    blobs, pages = stack.edna.blobs, []
    real = blobs.delete_many

    def failing_on_the_second_page(keys: list[str]) -> None:
        pages.append(keys)
        if len(pages) == 2:
            raise OSError(errno.EIO, "Input/output error (injected)")
        real(keys)

    monkeypatch.setattr(blobs, "delete_many", failing_on_the_second_page)
    admin.call("DELETE", f"/api/datasets/{doomed}", expect=(202,))
    failed = wait_for(admin, f"/api/datasets/{doomed}/deletion", lambda body: body["status"] in ("failed", "succeeded"))
    assert failed["status"] == "failed" and "DELETE the dataset again" in failed["error"]
    assert failed["progress"] == {"done": 2, "total": 5}
    assert [d["id"] for d in admin.pages("/api/datasets")] == []  # still gone from the listings
    assert admin.call("DELETE", f"/api/datasets/{doomed}", expect=(202,))["status"] == "queued"
    done = wait_for(admin, f"/api/datasets/{doomed}/deletion", lambda body: body["status"] == "succeeded")
    assert done["progress"] == {"done": 5, "total": 5} and "error" not in done
    assert dataset_keys(stack, doomed) == []
