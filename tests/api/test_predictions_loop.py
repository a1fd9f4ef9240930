"""Models in the labelling loop, over both blob stores: predictions as item facts, queries by model
output with stable cursors, pre-annotation, likely mistakes and dismissals, hotkeys, failed items."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from conftest import STORES, running_stack
from digits import digits, fill_digits, models, register, wait_for
from tally import audit_entries, raw

from service.adapters.searchindex import ItemQuery
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.client import ApiError
from service.demo import CLASSES
from service.domain.indexing import Indexer
from service.domain.predictions import Predictions
from service.domain.rebuild import rebuild
from service.handlers import sqs_s3_events
from service.resources.common import page_schema
from service.resources.items.schemas import ItemSchema
from service.vocabulary import layout
from service.vocabulary.ids import new_id

COUNT = 120
WRONG = 6  # the first WRONG digits carry a deliberately wrong label: (true + 5) mod 10


@pytest.fixture(scope="module", params=STORES)
def loop(request, tmp_path_factory, moto_endpoint):
    """A labelled digits dataset with a few wrong labels, some unlabelled items and one finished job,
    shared by the module's tests (a job on moto costs seconds): each test reads the state it starts from."""
    with running_stack(request.param, tmp_path_factory.mktemp(f"loop-{request.param}"), moto_endpoint) as stack:
        yield stack, *world(stack)


def world(stack) -> tuple:
    editor = stack.client("editor")
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})["id"]
    fill_digits(stack, dataset_id, COUNT)
    items = {i["filename"]: i for i in editor.pages(f"/api/datasets/{dataset_id}/items", limit=500)}
    truth = {name: str(target) for name, _, target in digits()[:COUNT]}
    labels = []
    for n, (name, label) in enumerate(sorted(truth.items())):
        if n < WRONG:
            labels.append({"item_id": items[name]["id"], "label": str((int(label) + 5) % 10)})
        elif n >= COUNT - 20:
            labels.append({"item_id": items[name]["id"], "label": None})  # the last 20 are unlabelled
    editor.call("POST", f"/api/datasets/{dataset_id}/labels", json={"labels": labels})
    model = register(editor, "lr", models()["digits-logistic-regression"])
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model["id"]})
    assert wait_for(editor, f"/api/jobs/{job['id']}")["status"] == "succeeded"
    # The predictions follow the status: the runner attaches them once the job's process has ended.
    wait_for(editor, f"/api/datasets/{dataset_id}", done=lambda d: d["predictions"])
    wrong = {items[name]["id"] for name in sorted(truth)[:WRONG]}
    return editor, dataset_id, model["id"], job["id"], wrong


def listing(client, dataset_id: str, limit: int = 7, **params) -> list[dict]:
    return list(client.pages(f"/api/datasets/{dataset_id}/items", limit=limit, **params))


def test_a_finished_job_puts_its_predictions_on_the_items(loop):
    stack, _editor, dataset_id, model_id, job_id, _ = loop
    viewer = stack.client("viewer")
    items = listing(viewer, dataset_id, limit=500)
    assert len(items) == COUNT
    rows = {r["item_id"]: r for r in viewer.pages(f"/api/jobs/{job_id}/predictions", limit=500)}
    for item in items:
        (prediction,) = item["predictions"]
        row = rows[item["id"]]
        assert prediction["model_id"] == model_id and prediction["job_id"] == job_id
        assert (prediction["predicted"], prediction["score"], prediction["margin"]) == (
            row["predicted"],
            row["score"],
            row["margin"],
        )
        assert prediction["top"] == row["top"] and max(row["top"].values()) == row["score"]
        assert 0 <= prediction["margin"] <= prediction["score"] <= 1
    dataset = viewer.call("GET", f"/api/datasets/{dataset_id}")
    assert dataset["predictions"] == [{"model_id": model_id, "model_name": "lr", "job_id": job_id, "items": COUNT}]
    one = viewer.call("GET", f"/api/datasets/{dataset_id}/items/{items[0]['id']}")
    assert one["predictions"] == items[0]["predictions"]


def test_queries_by_model_output_page_exactly_under_every_sort(loop):
    stack, _, dataset_id, model_id, _, wrong = loop
    viewer = stack.client("viewer")
    everything = listing(viewer, dataset_id, limit=500)

    def prediction(item):
        return item["predictions"][0]

    def expect(keep, key):
        return [i["id"] for i in sorted(filter(keep, everything), key=key)]

    def check(params, keep, key, limits=(7, 500)):
        for limit in limits:
            got = [i["id"] for i in listing(viewer, dataset_id, limit=limit, model=model_id, **params)]
            assert got == expect(keep, key), (params, limit)

    def by_id(item):
        return item["id"]

    every = lambda item: True  # noqa: E731
    check({"sort": "margin"}, every, lambda i: (prediction(i)["margin"], i["id"]), limits=(1, 7, 500))
    check({"sort": "score"}, every, lambda i: (prediction(i)["score"], i["id"]))
    check({"sort": "-score"}, every, lambda i: (-prediction(i)["score"], i["id"]))
    disagrees = lambda i: i["label"] is not None and prediction(i)["predicted"] != i["label"]  # noqa: E731
    check({"disagrees": "true"}, disagrees, by_id)
    assert wrong <= {i["id"] for i in everything if disagrees(i)}
    check({"predicted": "3"}, lambda i: prediction(i)["predicted"] == "3", by_id)
    check(
        {"min_score": 0.5, "max_score": 0.9, "sort": "margin"},
        lambda i: 0.5 <= prediction(i)["score"] <= 0.9,
        lambda i: (prediction(i)["margin"], i["id"]),
    )
    check(
        {"unlabeled": "true", "sort": "margin"},
        lambda i: i["label"] is None,
        lambda i: (prediction(i)["margin"], i["id"]),
    )
    check({"sort": "name"}, every, lambda i: (i["filename"], i["id"]))
    # The tenant-wide search takes the same filters.
    found = list(viewer.pages("/api/search", limit=9, dataset=dataset_id, model=model_id, disagrees="true"))
    assert [i["id"] for i in found] == expect(disagrees, by_id)

    # Filters that read predictions need the model; a cursor belongs to its own sort.
    for params in ({"sort": "margin"}, {"disagrees": "true"}, {"predicted": "3"}, {"min_score": 0.2}, {"sort": "x"}):
        response = raw(stack, "GET", f"/api/datasets/{dataset_id}/items", viewer.token, params=params)
        assert response.status_code in (400, 422), (params, response.text)
    page = viewer.call("GET", f"/api/datasets/{dataset_id}/items", params={"limit": 3})
    response = raw(
        stack,
        "GET",
        f"/api/datasets/{dataset_id}/items",
        viewer.token,
        params={"model": model_id, "sort": "margin", "cursor": page["next_cursor"]},
    )
    assert response.status_code == 400, response.text


def test_predictions_are_rebuilt_identical_from_job_parts(loop, tmp_path):
    stack, _, dataset_id, model_id, _, _ = loop
    live = stack.edna.adapters.index
    fresh = SqliteSearchIndex(tmp_path / "rebuilt.db")
    blobs = stack.edna.blobs
    totals = rebuild(Indexer(blobs, fresh), fresh, "demo", predictions=Predictions(blobs, fresh))
    assert totals["items"] == COUNT and totals["predictions"] == COUNT

    def facts(index):
        records = index.search("demo", ItemQuery(dataset_id=dataset_id), 1000, None)
        return {r.item_id: (r.label, r.label_source, r.predictions) for r in records}

    assert facts(fresh) == facts(live)
    query = ItemQuery(dataset_id=dataset_id, model_id=model_id, sort="margin")
    assert [r.item_id for r in fresh.search("demo", query, 1000, None)] == [
        r.item_id for r in live.search("demo", query, 1000, None)
    ]


def test_accepting_predictions_one_and_in_bulk(loop):
    stack, _editor, dataset_id, model_id, _, _ = loop
    labeler, viewer = stack.client("labeler"), stack.client("viewer")
    accept = f"/api/datasets/{dataset_id}/predictions/accept"
    unlabelled = listing(viewer, dataset_id, limit=500, unlabeled="true")
    assert len(unlabelled) == 20  # no other test of the module labels these

    # One item: the model's class becomes the label, and the label says where it came from.
    first = unlabelled[0]
    assert labeler.call("POST", accept, json={"model_id": model_id, "item_ids": [first["id"]]}) == {
        "matched": 1,
        "labelled": 1,
    }
    now = viewer.call("GET", f"/api/datasets/{dataset_id}/items/{first['id']}")
    assert now["label"] == first["predictions"][0]["predicted"]
    assert now["label_source"] == {"kind": "model", "by": model_id}
    # Accepting again changes nothing: the item is labelled now.
    assert labeler.call("POST", accept, json={"model_id": model_id, "item_ids": [first["id"]]})["labelled"] == 0

    # In bulk, above a score: the count comes first (dry run), then exactly those are labelled.
    confident = [i for i in unlabelled[1:] if i["predictions"][0]["score"] >= 0.6]
    body = {"model_id": model_id, "min_score": 0.6, "query": {}, "dry_run": True}
    assert labeler.call("POST", accept, json=body) == {"matched": len(confident), "labelled": 0}
    assert len(listing(viewer, dataset_id, unlabeled="true")) == 19  # a dry run labels nothing
    assert labeler.call("POST", accept, json={**body, "dry_run": False}) == {
        "matched": len(confident),
        "labelled": len(confident),
    }
    after = {i["id"]: i for i in listing(viewer, dataset_id, limit=500)}
    for item in confident:
        assert after[item["id"]]["label"] == item["predictions"][0]["predicted"]
        assert after[item["id"]]["label_source"] == {"kind": "model", "by": model_id}
    # A person's label says so too.
    person = labeler.call(
        "PUT", f"/api/datasets/{dataset_id}/items/{first['id']}/label", json={"label": first["label"] or "1"}
    )
    assert person["label_source"] == {"kind": "person", "by": "labeler-demo"}

    # Roles, tenants and bodies.
    refused = [
        (stack.client("viewer"), {"model_id": model_id, "item_ids": [first["id"]]}, 403),
        (stack.client("labeler", tenant="other"), {"model_id": model_id, "item_ids": [first["id"]]}, 404),
        (labeler, {"item_ids": [first["id"]]}, 422),
        (labeler, {"model_id": model_id, "item_ids": []}, 422),
        (labeler, {"model_id": model_id, "item_ids": [new_id()]}, 404),
        (labeler, {"model_id": model_id, "query": {"model": model_id}}, 400),
        (labeler, {"model_id": model_id, "min_score": 2}, 422),
    ]
    before = {i["id"]: (i["label"], i["label_source"]) for i in listing(viewer, dataset_id, limit=500)}
    for client, payload, status in refused:
        with pytest.raises(ApiError) as caught:
            client.call("POST", accept, json=payload)
        assert caught.value.status == status, (payload, caught.value.body)
    assert {i["id"]: (i["label"], i["label_source"]) for i in listing(viewer, dataset_id, limit=500)} == before
    actions = [e["action"] for e in audit_entries(stack.client("admin"), action=f"POST {accept_template()}")]
    assert len(actions) >= 4


def accept_template() -> str:
    return "/api/datasets/{dataset_id}/predictions/accept"


def test_likely_mistakes_come_first_and_can_be_dismissed(loop):
    stack, _editor, dataset_id, model_id, _, wrong = loop
    viewer, labeler = stack.client("viewer"), stack.client("labeler")
    path = f"/api/datasets/{dataset_id}/mistakes"
    ranked = list(viewer.pages(path, limit=4))
    assert ranked and all(r["rank_score"] > 0 for r in ranked)
    assert [r["rank_score"] for r in ranked] == sorted((r["rank_score"] for r in ranked), reverse=True)
    top = {r["item_id"] for r in ranked[: 2 * WRONG]}
    assert len(wrong & top) >= WRONG - 1, "the planted wrong labels lead the list"
    for row in ranked:
        assert row["label"] == row["item"]["label"] and row["suggested"] != row["label"]
        assert row["suggested"] in CLASSES
    assert [r["item_id"] for r in viewer.pages(path, limit=50, model=model_id)] == [r["item_id"] for r in ranked]

    # Dismissed: off the list, remembered in storage, audited; a viewer may not.
    victim = ranked[0]["item_id"]
    with pytest.raises(ApiError) as caught:
        viewer.call("POST", f"{path}/{victim}/dismiss")
    assert caught.value.status == 403
    labeler.call("POST", f"{path}/{victim}/dismiss")
    assert victim not in {r["item_id"] for r in viewer.pages(path, limit=50)}
    assert stack.edna.blobs.head(layout.dismissal("demo", dataset_id, victim)) is not None
    assert audit_entries(stack.client("admin"), action="POST /api/datasets/{dataset_id}/mistakes/{item_id}/dismiss")
    for bad in (new_id(), "not-an-id"):
        with pytest.raises(ApiError) as caught:
            labeler.call("POST", f"{path}/{bad}/dismiss")
        assert caught.value.status == 404
    # Fixing a label takes the item off the list too.
    fixed = ranked[1]
    labeler.call(
        "PUT", f"/api/datasets/{dataset_id}/items/{fixed['item_id']}/label", json={"label": fixed["suggested"]}
    )
    assert fixed["item_id"] not in {r["item_id"] for r in viewer.pages(path, limit=50)}
    assert raw(stack, "GET", path, viewer.token, params={"cursor": "garbage"}).status_code == 400


def test_hotkeys_follow_the_classes_and_can_be_chosen(loop):
    stack, editor, dataset_id, _, _, _ = loop
    dataset = editor.call("GET", f"/api/datasets/{dataset_id}")
    assert dataset["hotkeys"] == {c: c for c in CLASSES}  # on digits, key 3 labels "3"
    chosen = editor.call("PATCH", f"/api/datasets/{dataset_id}", json={"hotkeys": {"0": "z"}})
    assert chosen["hotkeys"]["0"] == "z" and chosen["hotkeys"]["3"] == "3"
    named = editor.call("POST", "/api/datasets", json={"name": "pets", "label_classes": ["cat", "dog", "cow"]})
    assert named["hotkeys"] == {"cat": "c", "dog": "d", "cow": "o"}
    for bad in ({"0": "ab"}, {"zebra": "z"}, {"0": "x", "1": "x"}, {"0": " "}):
        with pytest.raises(ApiError) as caught:
            editor.call("PATCH", f"/api/datasets/{dataset_id}", json={"hotkeys": bad})
        assert caught.value.status in (400, 422), bad
    with pytest.raises(ApiError) as caught:
        stack.client("labeler").call("PATCH", f"/api/datasets/{dataset_id}", json={"hotkeys": {"0": "q"}})
    assert caught.value.status == 403
    assert editor.call("GET", f"/api/datasets/{dataset_id}")["hotkeys"]["0"] == "z"


def test_a_job_lists_its_failed_items_with_the_reason(stack):
    editor = stack.client("editor")
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "mixed", "label_classes": CLASSES})["id"]
    fill_digits(stack, dataset_id, 30)
    for n in range(3):  # not images: the engine cannot load them
        broken = editor.upload(dataset_id, f"notes-{n}.png", b"not a png at all", "image/png")
        assert broken["status"] == "available"
    model = register(editor, "lr", models()["digits-logistic-regression"])
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model["id"]})
    done = wait_for(editor, f"/api/jobs/{job['id']}")
    assert done["status"] == "succeeded" and done["metrics"]["errors"] == 3
    for limit in (1, 2, 50):
        failed = list(editor.pages(f"/api/jobs/{job['id']}/predictions", limit=limit, errors="true"))
        assert sorted(f["filename"] for f in failed) == ["notes-0.png", "notes-1.png", "notes-2.png"]
        assert all(f["error"] and f["predicted"] is None for f in failed)
    broken_items = listing(editor, dataset_id, limit=100, q="notes")
    assert all(i["predictions"] == [] for i in broken_items)


def test_a_job_status_event_attaches_the_predictions_on_aws(loop, tmp_path):
    """On AWS the engine runs on MWAA: its status write reaches the indexer Lambda as an S3 event."""
    stack, _, dataset_id, model_id, job_id, _ = loop
    blobs = stack.edna.blobs
    fresh = SqliteSearchIndex(tmp_path / "lambda.db")
    indexer = Indexer(blobs, fresh)
    rebuild(indexer, fresh, "demo")  # the items, without predictions
    query = ItemQuery(dataset_id=dataset_id, model_id=model_id)
    assert fresh.search("demo", query, 1000, None) == []
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}
    record["s3"] = {"object": {"key": quote_plus(layout.job_status("demo", job_id))}}
    message = {"messageId": "m-1", "body": json.dumps({"Records": [record]})}
    assert sqs_s3_events({"Records": [message]}, indexer=indexer) == {"batchItemFailures": []}
    assert len(fresh.search("demo", query, 1000, None)) == COUNT


def test_item_pages_are_what_their_schemas_would_dump(loop):
    """The items and search routes send describe()'s dicts without the schema's pass: they must be
    exactly what it would send (every field, JSON types), for items with predictions, label sources
    and thumbnails alike."""
    stack, _editor, dataset_id, model_id, _, _ = loop
    viewer = stack.client("viewer")
    for path, name in ((f"/api/datasets/{dataset_id}/items", "ItemPage"), ("/api/search", "SearchPage")):
        body = viewer.call("GET", path, params={"limit": 60, "model": model_id, "dataset": dataset_id})
        assert len(body["items"]) == 60 and body["next_cursor"]
        assert page_schema(ItemSchema, name)().dump(body) == body
        assert all(set(item) == set(ItemSchema().fields) for item in body["items"])
        assert any(i["predictions"] and i["label_source"] and i["thumbnail_url"] for i in body["items"])
