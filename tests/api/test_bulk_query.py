""" "Select all N matches": a change to every item the filters match, counted first, run off the request
path on exactly the items that matched when it was accepted, audited; and renaming a label class."""

from __future__ import annotations

import json
import time

import pytest
import requests

from service.adapters.searchindex import ItemQuery
from service.domain.bulk_runs import BulkRuns
from service.handlers import sqs_s3_events
from service.vocabulary import layout
from service.vocabulary.ids import new_id
from service.vocabulary.roles import Principal, Role
from tests.api.test_events import png, s3_record


@pytest.fixture
def world(stack):
    editor = stack.client("editor")
    dataset = editor.call("POST", "/api/datasets", json={"name": "bulk", "label_classes": ["cat", "dog", "bird"]})
    path = f"/api/datasets/{dataset['id']}"
    items = [editor.upload(dataset["id"], f"x{n}.png", png(8 + n, 8), "image/png")["id"] for n in range(9)]
    labels = [{"item_id": i, "label": "cat" if n < 5 else "dog"} for n, i in enumerate(items)]
    editor.call("POST", f"{path}/labels", json={"labels": labels})
    return stack, editor, path, items


def auth(client) -> dict:
    return {"Authorization": f"Bearer {client.token}"}


def finished(client, path: str, run_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        run = client.call("GET", f"{path}/bulk/query/{run_id}")
        if run["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def labels_of(client, path: str) -> dict[str, str | None]:
    return {i["id"]: i["label"] for i in client.pages(f"{path}/items")}


def test_a_dry_run_counts_and_changes_nothing(world):
    _, editor, path, _ = world
    before = labels_of(editor, path)
    body = {"query": {"label": "cat"}, "action": "label", "label": "bird", "dry_run": True}
    assert editor.call("POST", f"{path}/bulk/query", json=body) == {"matched": 5}
    assert labels_of(editor, path) == before


def test_labelling_every_match_changes_exactly_the_items_matched_when_accepted(world):
    stack, editor, path, items = world
    labeler = stack.client("labeler")
    run = labeler.call(
        "POST", f"{path}/bulk/query", json={"query": {"label": "cat"}, "action": "label", "label": "bird"}
    )
    assert run["matched"] == 5 and run["status"] in ("queued", "running", "succeeded")
    late = editor.upload(path.rsplit("/", 1)[1], "late.png", png(5, 5), "image/png")["id"]
    editor.call("PUT", f"{path}/items/{late}/label", json={"label": "cat"})  # into the query, after acceptance
    done = finished(labeler, path, run["id"])
    assert done["status"] == "succeeded" and done["progress"] == {"done": 5, "total": 5} and done["failed"] == 0
    labels = labels_of(editor, path)
    assert [labels[i] for i in items] == ["bird"] * 5 + ["dog"] * 4
    assert labels[late] == "cat"
    item = editor.call("GET", f"{path}/items/{items[0]}")
    assert item["label_source"] == {"kind": "person", "by": "labeler-demo"}


def test_tags_and_deletes_apply_to_every_match(world):
    _, editor, path, items = world
    tagged = editor.call(
        "POST", f"{path}/bulk/query", json={"query": {"label": "dog"}, "action": "tags", "tags": {"k": "v"}}
    )
    assert finished(editor, path, tagged["id"])["status"] == "succeeded"
    assert all(editor.call("GET", f"{path}/items/{i}")["tags"] == {"k": "v"} for i in items[5:])
    gone = editor.call("POST", f"{path}/bulk/query", json={"query": {"q": "x1"}, "action": "delete", "expected": 1})
    assert finished(editor, path, gone["id"])["status"] == "succeeded"
    assert items[1] not in labels_of(editor, path) and len(labels_of(editor, path)) == 8


def test_a_changed_count_bad_labels_roles_and_tenants_are_refused_before_anything_runs(world):
    stack, editor, path, _ = world
    url = f"{path}/bulk/query"
    change = {"query": {"label": "cat"}, "action": "label", "label": "bird"}
    conflict = requests.post(stack.base_url + url, json={**change, "expected": 4}, headers=auth(editor), timeout=10)
    assert conflict.status_code == 409 and "5 items match now" in conflict.json()["message"]
    editor.call("POST", url, json={**change, "label": "fish"}, expect=(400,))
    editor.call("POST", url, json={"query": {}, "action": "label"}, expect=(400,))
    stack.client("labeler").call("POST", url, json={"query": {}, "action": "delete"}, expect=(403,))
    stack.client("viewer").call("POST", url, json=change, expect=(403,))
    stack.client("editor", tenant="acme").call("POST", url, json=change, expect=(404,))
    editor.call("GET", f"{url}/not-a-run", expect=(404,))
    assert sorted(labels_of(editor, path).values()) == ["cat"] * 5 + ["dog"] * 4


def test_a_run_is_audited_when_asked_and_when_it_ends(world):
    stack, editor, path, _ = world
    run = editor.call("POST", f"{path}/bulk/query", json={"query": {"label": "dog"}, "action": "label", "label": None})
    assert finished(editor, path, run["id"])["status"] == "succeeded"
    admin = stack.client("admin")
    entries = list(admin.pages("/api/audit", actor="editor-demo"))
    asked = [e for e in entries if e["action"] == "POST /api/datasets/{dataset_id}/bulk/query"]
    ended = [e for e in entries if e["action"] == "bulk label finished"]
    assert asked and asked[-1]["target"]["created"] == run["id"]
    assert len(ended) == 1 and ended[0]["target"]["run_id"] == run["id"]


def test_renaming_a_class_relabels_its_items_and_moves_its_hotkey(world):
    _, editor, path, items = world
    editor.call("PATCH", path, json={"hotkeys": {"cat": "k"}})
    run = editor.call("POST", f"{path}/label-classes/rename", json={"from": "cat", "to": "feline"})
    assert finished(editor, path, run["id"])["status"] == "succeeded"
    dataset = editor.call("GET", path)
    assert dataset["label_classes"] == ["feline", "dog", "bird"] and dataset["hotkeys"]["feline"] == "k"
    assert [labels_of(editor, path)[i] for i in items] == ["feline"] * 5 + ["dog"] * 4
    merged = editor.call("POST", f"{path}/label-classes/rename", json={"from": "dog", "to": "feline"})
    assert finished(editor, path, merged["id"])["status"] == "succeeded"
    assert editor.call("GET", path)["label_classes"] == ["feline", "bird"]
    editor.call("POST", f"{path}/label-classes/rename", json={"from": "cow", "to": "ox"}, expect=(400,))
    editor.call("POST", f"{path}/label-classes/rename", json={"from": "bird", "to": "  "}, expect=(400,))
    missing = "/api/datasets/" + "0" * 26
    editor.call("POST", f"{missing}/label-classes/rename", json={"from": "bird", "to": "fowl"}, expect=(404,))
    assert editor.call("GET", path)["label_classes"] == ["feline", "bird"]


def test_on_aws_the_run_goes_where_its_record_event_arrives(world):
    stack, editor, path, items = world
    edna = stack.edna
    dataset = edna.datasets.get("demo", path.rsplit("/", 1)[1])
    api_side = replace_in_process(edna.bulk)
    principal = Principal("editor-demo", "demo", (Role.editor.name,))
    query = ItemQuery(dataset_id=dataset.id, label="dog")
    run = api_side.start(principal, dataset, query, {"action": "label", "label": "cat"}, None)
    assert api_side.get("demo", dataset.id, run["id"])["status"] == "queued"
    key = layout.bulk_run("demo", dataset.id, run["id"])
    events = {"Records": [{"messageId": "m-1", "body": json.dumps({"Records": [s3_record("ObjectCreated:Put", key)]})}]}
    indexer_side = replace_in_process(edna.bulk)
    assert sqs_s3_events(events, indexer=edna.indexer, bulk=indexer_side) == {"batchItemFailures": []}
    assert editor.call("GET", f"{path}/bulk/query/{run['id']}")["status"] == "succeeded"
    assert [labels_of(editor, path)[i] for i in items] == ["cat"] * 9
    before = edna.blobs.get_bytes(key)
    assert sqs_s3_events(events, indexer=edna.indexer, bulk=indexer_side) == {"batchItemFailures": []}
    assert edna.blobs.get_bytes(key) == before  # a repeated event finds it done


def test_a_run_whose_record_stopped_moving_reads_as_failed(world):
    stack, editor, path, _ = world
    edna, dataset_id = stack.edna, path.rsplit("/", 1)[1]
    aws_side = replace_in_process(edna.bulk)

    def left(status: str, seconds_ago: float) -> str:
        run = {"id": new_id(), "dataset_id": dataset_id, "action": "label", "status": status}
        run["updated_at"] = time.time() - seconds_ago
        edna.blobs.put_bytes(layout.bulk_run("demo", dataset_id, run["id"]), json.dumps(run).encode(), "text/plain")
        return run["id"]

    running, queued, moving = left("running", 600), left("queued", 600), left("running", 1)
    stopped = editor.call("GET", f"{path}/bulk/query/{running}")
    assert stopped["status"] == "failed" and "start it again" in stopped["error"]
    assert aws_side.get("demo", dataset_id, running)["status"] == "failed"  # the function's time ran out
    assert editor.call("GET", f"{path}/bulk/query/{queued}")["status"] == "failed"
    assert aws_side.get("demo", dataset_id, queued)["status"] == "queued"  # its event may still be on its way
    assert editor.call("GET", f"{path}/bulk/query/{moving}")["status"] == "running"


def replace_in_process(bulk: BulkRuns) -> BulkRuns:
    return BulkRuns(bulk.blobs, bulk.index, bulk.datasets, bulk.items, bulk.labels, bulk.audit, in_process=False)
