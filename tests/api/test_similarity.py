"""Search by what an image shows, over both blob stores: an embedding model's job makes the dataset's
vectors searchable; similar items (with listing filters), "find similar" for an uploaded image,
near-duplicate passes whose extras are deleted in bulk, the map, and vectors rebuilt from the parts."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from conftest import STORES, running_stack
from digits import digits, embedding_model, fill_digits, models, register, wait_for
from tally import audit_entries, raw

from service.adapters.vectorindex.local import LocalVectorIndex
from service.domain.duplicate_runs import DuplicateRuns
from service.domain.embeddings import Embeddings
from service.handlers import sqs_s3_events
from service.vocabulary import layout
from service.vocabulary.ids import new_id
from service.vocabulary.roles import Principal, Role

COUNT = 100
COPIES = 3  # the first COPIES digits are uploaded twice: planted exact duplicates


@pytest.fixture(scope="module", params=STORES)
def space(request, tmp_path_factory, moto_endpoint):
    """A labelled digits dataset with planted duplicates and one finished embedding job, shared by the
    module's tests (each reads the state it starts from; the one that deletes works on its own copies)."""
    with running_stack(request.param, tmp_path_factory.mktemp(f"similar-{request.param}"), moto_endpoint) as stack:
        yield stack, *world(stack)


def world(stack) -> tuple:
    editor = stack.client("editor")
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "digits"})["id"]
    fill_digits(stack, dataset_id, COUNT)
    copies = {}
    for name, png, target in digits()[:COPIES]:
        copy = editor.upload(dataset_id, "copy-" + name, png, "image/png")
        editor.call("PUT", f"/api/datasets/{dataset_id}/items/{copy['id']}/label", json={"label": str(target)})
        copies[name] = copy["id"]
    model = register(editor, "embed", embedding_model(), class_names=[], embedding_output="embedding")
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model["id"]})
    assert wait_for(editor, f"/api/jobs/{job['id']}")["status"] == "succeeded"
    # The vectors follow the status: the runner loads them once the job's process has ended.
    wait_for(editor, f"/api/datasets/{dataset_id}/embeddings", done=lambda body: body["items"])
    items = {i["filename"]: i for i in editor.pages(f"/api/datasets/{dataset_id}/items")}
    return editor, dataset_id, model["id"], job["id"], items, copies


def similar(client, dataset_id: str, item_id: str, **params) -> dict:
    return client.call("GET", f"/api/datasets/{dataset_id}/items/{item_id}/similar", params=params)


def test_an_embedding_job_makes_the_dataset_searchable(space):
    stack, _, dataset_id, model_id, job_id, items, _ = space
    viewer = stack.client("viewer")
    (entry,) = viewer.call("GET", f"/api/datasets/{dataset_id}/embeddings")["items"]
    assert entry["model_id"] == model_id and entry["job_id"] == job_id and entry["model_name"] == "embed"
    assert entry["count"] == COUNT + COPIES and entry["dims"] > 1
    model = viewer.call("GET", f"/api/models/{model_id}")
    assert model["embedding_output"] == "embedding" and model["embedding_dims"] == entry["dims"]
    # An embedding-only model predicts nothing: the items carry no predictions from it.
    assert all(not item["predictions"] for item in items.values())


def test_similar_items_are_the_nearest_first_and_mostly_share_the_label(space):
    stack, _, dataset_id, model_id, job_id, items, copies = space
    viewer = stack.client("viewer")
    name = digits()[0][0]
    original = items[name]
    body = similar(viewer, dataset_id, original["id"], k=8)
    assert body["model_id"] == model_id and body["job_id"] == job_id
    found = body["items"]
    assert len(found) == 8 and original["id"] not in [i["item_id"] for i in found]
    similarities = [i["similarity"] for i in found]
    assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1.000001 for s in similarities)
    assert found[0]["item_id"] == copies[name] and found[0]["similarity"] > 0.9999  # its exact copy
    assert found[0]["filename"] == "copy-" + name and found[0]["download_url"]  # item fields come along
    same = sum(i["label"] == original["label"] for i in found)
    assert same >= 5, [i["label"] for i in found]
    # Naming the model gives the same answer; k bounds it.
    named = similar(viewer, dataset_id, original["id"], k=8, model=model_id)["items"]
    assert [(i["item_id"], i["similarity"]) for i in named] == [(i["item_id"], i["similarity"]) for i in found]
    assert [i["item_id"] for i in similar(viewer, dataset_id, original["id"], k=3)["items"]] == [
        i["item_id"] for i in found[:3]
    ]


def test_similar_items_take_the_listing_filters(space):
    stack, _, dataset_id, _, _, items, _ = space
    viewer = stack.client("viewer")
    some = next(iter(items.values()))
    other = str((int(some["label"]) + 1) % 10)
    found = similar(viewer, dataset_id, some["id"], k=5, label=other)["items"]
    assert len(found) == 5 and {i["label"] for i in found} == {other}
    assert similar(viewer, dataset_id, some["id"], k=5, unlabeled="true")["items"] == []
    for params, status in (
        ({"k": 0}, 422),
        ({"k": 101}, 422),
        ({"q": "x"}, 400),
        ({"predicted": "3"}, 400),
        ({"model": new_id()}, 409),
    ):
        response = raw(
            stack, "GET", f"/api/datasets/{dataset_id}/items/{some['id']}/similar", viewer.token, params=params
        )
        assert response.status_code == status, (params, response.text)


def test_an_item_added_after_the_job_has_no_neighbours_yet(space):
    stack, editor, dataset_id, *_ = space
    name, png, _ = digits()[COUNT]
    late = editor.upload(dataset_id, name, png, "image/png")
    body = similar(stack.client("viewer"), dataset_id, late["id"], k=3)
    assert body["items"] == [] and "no embedding" in body["missing"]
    editor.call("DELETE", f"/api/datasets/{dataset_id}/items/{late['id']}")


def test_find_similar_to_an_uploaded_image(space):
    stack, _, dataset_id, model_id, _, items, copies = space
    viewer = stack.client("viewer")
    name, png, _ = digits()[1]
    body = {"model_id": model_id, "dataset_id": dataset_id, "k": 4, "filename": "q.png", "content_type": "image/png"}
    ticket = viewer.call("POST", "/api/similar", json={**body, "size": len(png)})
    assert viewer.call("GET", f"/api/similar/{ticket['id']}")["status"] == "awaiting_upload"
    viewer.transfer(ticket["upload"], png, "image/png")
    result = wait_for(viewer, f"/api/similar/{ticket['id']}", done=lambda r: r["status"] in ("succeeded", "failed"))
    assert result["status"] == "succeeded", result
    top = [i["item_id"] for i in result["items"]]
    assert len(top) == 4 and set(top[:2]) == {items[name]["id"], copies[name]}
    assert result["items"][0]["similarity"] > 0.9999
    # Across every dataset with this model's vectors when no dataset is named; an image that is not
    # one fails with the reason, in the job's confined process.
    ticket = viewer.call("POST", "/api/similar", json={**body, "dataset_id": None, "size": len(png)} | {"k": 2})
    viewer.transfer(ticket["upload"], png, "image/png")
    result = wait_for(viewer, f"/api/similar/{ticket['id']}", done=lambda r: r["status"] in ("succeeded", "failed"))
    assert {i["item_id"] for i in result["items"]} == {items[name]["id"], copies[name]}
    junk = viewer.call("POST", "/api/similar", json={**body, "size": 9})
    viewer.transfer(junk["upload"], b"not a png", "image/png")
    failed = wait_for(viewer, f"/api/similar/{junk['id']}", done=lambda r: r["status"] in ("succeeded", "failed"))
    assert failed["status"] == "failed" and failed["error"]


def test_find_similar_refuses_what_cannot_be_searched(space):
    stack, editor, dataset_id, _, _, _, _ = space
    viewer = stack.client("viewer")
    classifier = register(editor, "plain", models()["digits-logistic-regression"])
    body = {"filename": "q.png", "content_type": "image/png", "size": 10, "dataset_id": dataset_id}
    for changes, status in (
        ({"model_id": classifier["id"]}, 409),  # no embedding output
        ({"model_id": new_id()}, 404),
        ({"model_id": space[3], "dataset_id": new_id()}, 404),
        ({"model_id": space[3], "size": 10**9}, 400),
        ({"model_id": space[3], "filename": "../x"}, 400),
    ):
        response = raw(stack, "POST", "/api/similar", viewer.token, json={**body, **changes})
        assert response.status_code == status, (changes, response.text)
    assert raw(stack, "GET", f"/api/similar/{new_id()}", viewer.token).status_code == 404
    # Another tenant's query is not found.
    mine = viewer.call("POST", "/api/similar", json={**body, "model_id": space[3]})
    stranger = stack.client("admin", tenant="acme")
    assert raw(stack, "GET", f"/api/similar/{mine['id']}", stranger.token).status_code == 404


def test_near_duplicates_are_grouped_and_their_extras_deleted_in_bulk(space):
    stack, editor, dataset_id, model_id, _, items, copies = space
    viewer = stack.client("viewer")
    run = editor.call("POST", f"/api/datasets/{dataset_id}/duplicates", json={"threshold": 0.995})
    assert run["status"] in ("queued", "running") and run["model_id"] == model_id
    assert run["progress"]["total"] == COUNT + COPIES
    done = wait_for(viewer, f"/api/datasets/{dataset_id}/duplicates/{run['id']}")
    assert done["status"] == "succeeded" and done["progress"]["done"] == COUNT + COPIES
    planted = {frozenset({items[name]["id"], copy}) for name, copy in copies.items()}
    groups = {frozenset(g["item_ids"]) for g in done["groups"]}
    assert planted <= groups, done["groups"]
    assert all(g["similarity"] >= 0.995 for g in done["groups"])
    assert done["group_count"] == len(done["groups"])
    # Paged: one group at a time gives the same groups.
    seen, cursor = [], None
    while True:
        page = viewer.call(
            "GET", f"/api/datasets/{dataset_id}/duplicates/{run['id']}", params={"limit": 1, "cursor": cursor}
        )
        seen += page["groups"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == done["groups"]

    # The extras go in one audited bulk delete; a labeler may tag but not delete.
    extras = sorted(copies.values())
    labeler = stack.client("labeler")
    response = raw(stack, "POST", f"/api/datasets/{dataset_id}/bulk/delete", labeler.token, json={"item_ids": extras})
    assert response.status_code == 403
    tagged = labeler.call(
        "POST", f"/api/datasets/{dataset_id}/bulk/tags", json={"item_ids": extras, "tags": {"duplicate": "yes"}}
    )
    assert [r["status"] for r in tagged["results"]] == [200] * COPIES
    assert editor.call("GET", f"/api/datasets/{dataset_id}/items/{extras[0]}")["tags"] == {"duplicate": "yes"}
    deleted = editor.call("POST", f"/api/datasets/{dataset_id}/bulk/delete", json={"item_ids": [*extras, new_id()]})
    assert [r["status"] for r in deleted["results"]] == [204] * COPIES + [404]
    after = viewer.call("GET", f"/api/datasets/{dataset_id}/duplicates/{run['id']}")
    assert not planted & {frozenset(g["item_ids"]) for g in after["groups"]}
    found = similar(viewer, dataset_id, items[digits()[0][0]]["id"], k=20)["items"]
    assert not set(extras) & {i["item_id"] for i in found}
    assert audit_entries(stack.client("admin"), action="POST /api/datasets/{dataset_id}/bulk/delete")


def test_duplicate_passes_check_their_input(space):
    stack, editor, dataset_id, _, _, _, _ = space
    viewer = stack.client("viewer")
    path = f"/api/datasets/{dataset_id}/duplicates"
    assert raw(stack, "POST", path, viewer.token, json={"threshold": 0.95}).status_code == 403
    for body, status in (({"threshold": 0.5}, 422), ({"threshold": "x"}, 422), ({"model_id": new_id()}, 409)):
        assert raw(stack, "POST", path, editor.token, json=body).status_code == status, body
    empty = editor.call("POST", "/api/datasets", json={"name": "empty"})["id"]
    assert raw(stack, "POST", f"/api/datasets/{empty}/duplicates", editor.token, json={}).status_code == 409
    assert raw(stack, "GET", f"{path}/{new_id()}", viewer.token).status_code == 404
    response = raw(stack, "GET", f"{path}/{new_id()}", viewer.token, params={"cursor": "!!"})
    assert response.status_code in (400, 404)


def test_the_map_places_every_item_once_with_its_label(space):
    stack, _, dataset_id, model_id, job_id, _, _ = space
    viewer = stack.client("viewer")
    first = viewer.call("GET", f"/api/datasets/{dataset_id}/map", params={"limit": 7})
    assert first["model_id"] == model_id and first["job_id"] == job_id
    points = list(viewer.pages(f"/api/datasets/{dataset_id}/map", limit=7))
    live = {i["id"]: i for i in viewer.pages(f"/api/datasets/{dataset_id}/items")}
    assert len(points) == len({p["item_id"] for p in points}) == len(live)
    for point in points:
        assert 0 <= point["x"] <= 1 and 0 <= point["y"] <= 1
        assert point["label"] == live[point["item_id"]]["label"]
    # Cached per job: a second reading is the same layout.
    assert list(viewer.pages(f"/api/datasets/{dataset_id}/map", limit=500)) == points
    assert stack.edna.blobs.head(layout.job_map("demo", job_id)) is not None


def test_vectors_rebuilt_from_the_parts_answer_the_same(space, tmp_path):
    stack, _, dataset_id, model_id, _, items, _ = space
    viewer = stack.client("viewer")
    item_id = items[digits()[5][0]]["id"]

    def neighbours() -> list[tuple[str, float]]:  # without the signed links, which change with the second
        return [(i["item_id"], i["similarity"]) for i in similar(viewer, dataset_id, item_id, k=10)["items"]]

    before = neighbours()
    fresh = LocalVectorIndex(tmp_path / "vectors")
    embeddings = Embeddings(stack.edna.blobs, fresh)
    jobs = [
        o.key.split("/")[3] for o in stack.edna.blobs.iter_objects("tenants/demo/jobs/") if o.key.endswith("job.json")
    ]
    live = stack.edna.vectors
    # Items deleted since the job (the extras above) stay out: their tombstones are read first.
    assert embeddings.rebuild("demo", jobs) == live.info("demo", dataset_id, model_id).count
    present = {i["id"] for i in viewer.pages(f"/api/datasets/{dataset_id}/items")}
    assert {i for ids, _ in fresh.scan("demo", dataset_id, model_id) for i in ids} == present
    for probe_id in [item_id, *sorted(present)[:5]]:
        vector = live.vector("demo", dataset_id, model_id, probe_id)
        assert fresh.nearest("demo", dataset_id, model_id, vector, 10) == live.nearest(
            "demo", dataset_id, model_id, vector, 10
        )
    assert neighbours() == before


def test_another_tenant_and_unknown_ids_find_nothing(space):
    stack, _, dataset_id, _, _, items, _ = space
    stranger = stack.client("admin", tenant="acme")
    some = next(iter(items.values()))["id"]
    for path in (
        f"/api/datasets/{dataset_id}/items/{some}/similar",
        f"/api/datasets/{dataset_id}/map",
        f"/api/datasets/{dataset_id}/embeddings",
        f"/api/datasets/{dataset_id}/duplicates/{new_id()}",
    ):
        assert raw(stack, "GET", path, stranger.token).status_code == 404, path
    viewer = stack.client("viewer")
    assert raw(stack, "GET", f"/api/datasets/{dataset_id}/items/{new_id()}/similar", viewer.token).status_code == 404


def test_on_aws_the_pass_runs_where_its_record_event_arrives(space):
    """The API function cannot work after it answers: on AWS a pass's record reaches the indexer
    function as an S3 event, and that function runs it; the event of its own progress changes nothing."""
    stack, editor, dataset_id, _, _, _, _ = space
    edna = stack.edna
    api_side = DuplicateRuns(edna.blobs, edna.adapters.index, edna.similarity, in_process=False)
    run = api_side.start(Principal("editor-demo", "demo", (Role.editor.name,)), dataset_id, None, 0.995)
    key = layout.duplicates_run("demo", dataset_id, run["id"])
    assert api_side.get("demo", dataset_id, run["id"])["status"] == "queued"
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"object": {"key": quote_plus(key)}}}
    message = {"messageId": "m-1", "body": json.dumps({"Records": [record]})}
    indexer_side = DuplicateRuns(edna.blobs, edna.adapters.index, edna.similarity, in_process=False)
    events = {"Records": [message]}
    assert sqs_s3_events(events, indexer=edna.indexer, duplicates=indexer_side) == {"batchItemFailures": []}
    done = editor.call("GET", f"/api/datasets/{dataset_id}/duplicates/{run['id']}")
    assert done["status"] == "succeeded" and done["progress"]["done"] == done["progress"]["total"]
    before = edna.blobs.get_bytes(key)
    assert sqs_s3_events(events, indexer=edna.indexer, duplicates=indexer_side) == {"batchItemFailures": []}
    assert edna.blobs.get_bytes(key) == before  # a repeated event finds it done
