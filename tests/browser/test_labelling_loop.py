"""Models in the labelling loop, in a real Chromium against the demo's `digits` with both models'
predictions attached: keys that match the class names, accepting a model's suggestion with a key,
previous/next through the grid's list, moving and resizing a box, a conflicting save that keeps the
unsaved boxes and re-applies them, a confusion-matrix cell that opens exactly its items, the review
of likely mistakes by keyboard, a job's failed items, and a bulk accept that counts first. Every
label a test changes is put back."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from harness import needs_chromium, shot, sign_in
from PIL import Image
from playwright.sync_api import expect

from service.client import EdnaClient

pytest_plugins = ["harness"]
pytestmark = needs_chromium

PREDICTIONS_TIMEOUT_S = 240
JOB_TIMEOUT_S = 180


@dataclass
class Demo:
    base_url: str
    token: str
    dataset_id: str
    models: dict[str, str]  # name -> id

    def call(self, method: str, path: str, **kwargs):
        response = requests.request(
            method,
            self.base_url + "/api" + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def all(self, path: str) -> list[dict]:
        out, cursor = [], None
        while True:
            sep = "&" if "?" in path else "?"
            page = self.call("GET", f"{path}{sep}limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            out += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return out

    def items(self, query: str = "") -> list[dict]:
        return self.all(f"/datasets/{self.dataset_id}/items{query}")

    def set_label(self, item_id: str, label: str | None) -> None:
        self.call("PUT", f"/datasets/{self.dataset_id}/items/{item_id}/label", json={"label": label})

    def wait_job(self, job_id: str) -> dict:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while (job := self.call("GET", f"/jobs/{job_id}"))["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.5)
        return job


@pytest.fixture(scope="module")
def demo(edna_server, demo_credentials) -> Demo:
    """alice's view of the demo once both models' predictions are on every digit (the demo runs a job
    of each; if it did not, this starts them)."""
    login = requests.post(
        edna_server.url("/api/auth/token"),
        json={"username": "alice", "password": demo_credentials["alice"]},
        timeout=10,
    )
    d = Demo(edna_server.base_url, login.json()["access_token"], "", {})
    dataset = next(x for x in d.all("/datasets") if x["name"] == "digits")
    d.dataset_id = dataset["id"]
    d.models = {m["name"]: m["id"] for m in d.all("/models") if m["status"] == "available" and m["class_names"]}
    deadline = time.monotonic() + PREDICTIONS_TIMEOUT_S
    started = False
    while True:
        dataset = d.call("GET", f"/datasets/{d.dataset_id}")
        covered = {p["model_id"] for p in dataset.get("predictions", []) if p["items"] >= dataset["item_count"]}
        if covered >= set(d.models.values()):
            return d
        jobs = [j for j in d.all("/jobs") if j["dataset_id"] == d.dataset_id]
        if (
            not started
            and not any(j["status"] in ("queued", "running") for j in jobs)
            and time.monotonic() > deadline - 200
        ):
            for model_id in set(d.models.values()) - covered:
                d.call("POST", "/jobs", json={"dataset_id": d.dataset_id, "model_id": model_id})
            started = True
        assert time.monotonic() < deadline, f"no predictions of both models on digits: {dataset.get('predictions')}"
        time.sleep(1)


@pytest.fixture
def first_item(demo):
    """The first digit in upload order, its label restored after the test (source included: a person's)."""
    item = demo.call("GET", f"/datasets/{demo.dataset_id}/items?limit=1")["items"][0]
    yield item
    demo.set_label(item["id"], item["label"])


def test_keys_match_the_class_names_and_the_editor_changes_them(page, demo, demo_credentials, first_item):
    demo.set_label(first_item["id"], None)
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/datasets/{demo.dataset_id}/label?model=&sort=")
    expect(page.locator("#filename")).to_have_text(first_item["filename"])
    for digit in "0123456789":
        expect(page.locator(f'[data-class="{digit}"] kbd')).to_have_text(digit)  # the key is the class itself
    page.keyboard.press("3")
    expect(page.locator("#save")).to_have_text(f"Saved: {first_item['filename']} is 3")
    after = demo.call("GET", f"/datasets/{demo.dataset_id}/items/{first_item['id']}")
    assert after["label"] == "3"
    assert after["label_source"] == {"kind": "person", "by": "alice"}
    shot(page, "keys")

    # The dataset's editor: "3" gets `x`; labelling mode then shows and uses it; back to the defaults.
    page.goto(f"/#/datasets/{demo.dataset_id}")
    page.get_by_text("Labelling keys").click()
    page.get_by_label("Key for 3").fill("x")
    page.get_by_role("button", name="Save keys").click()
    expect(page.locator("#hotkeys-state")).to_have_text("Keys saved")
    try:
        assert demo.call("GET", f"/datasets/{demo.dataset_id}")["hotkeys"]["3"] == "x"
        demo.set_label(first_item["id"], None)
        page.goto(f"/#/datasets/{demo.dataset_id}/label?model=&sort=")
        expect(page.locator('[data-class="3"] kbd')).to_have_text("x")
        expect(page.locator("#filename")).to_have_text(first_item["filename"])
        page.keyboard.press("x")
        expect(page.locator("#save")).to_have_text(f"Saved: {first_item['filename']} is 3")
    finally:
        page.goto(f"/#/datasets/{demo.dataset_id}")
        page.get_by_text("Labelling keys").click()
        page.get_by_role("button", name="Back to the defaults").click()
        expect(page.locator("#hotkeys-state")).to_have_text("Back to the default keys")
    assert demo.call("GET", f"/datasets/{demo.dataset_id}")["hotkeys"]["3"] == "3"


def test_a_key_accepts_the_models_suggestion(page, demo, demo_credentials, first_item):
    model_id = demo.models["digits-random-forest"]
    prediction = next(p for p in first_item["predictions"] if p["model_id"] == model_id)
    demo.set_label(first_item["id"], None)
    sign_in(page, "bob", demo_credentials["bob"])  # a labeler
    page.goto(f"/#/datasets/{demo.dataset_id}/label?model={model_id}&sort=")
    expect(page.locator("#filename")).to_have_text(first_item["filename"])
    expect(page.locator("#suggestion")).to_be_visible()
    expect(page.locator("#suggested")).to_have_text(prediction["predicted"])
    expect(page.locator("#suggested-score")).to_have_text(f"{round(100 * prediction['score'])} %")
    expect(page.locator(f'[data-class="{prediction["predicted"]}"]')).to_have_class(re.compile(r"\bsuggested\b"))
    shot(page, "suggestion")
    page.keyboard.press("Enter")
    expect(page.locator("#save")).to_contain_text(
        f"Saved: {first_item['filename']} is {prediction['predicted']} (accepted from"
    )
    after = demo.call("GET", f"/datasets/{demo.dataset_id}/items/{first_item['id']}")
    assert after["label"] == prediction["predicted"]
    assert after["label_source"] == {"kind": "model", "by": model_id}

    # By default the walk goes least certain first: the model's smallest margin leads.
    some = demo.items("?limit=6")[1:6]
    try:
        for item in some:
            demo.set_label(item["id"], None)
        walk = demo.items(f"?unlabeled=true&status=available&model={model_id}&sort=margin")
        assert {i["id"] for i in walk} == {i["id"] for i in some}
        page.goto(f"/#/datasets/{demo.dataset_id}?model={model_id}")
        page.get_by_role("link", name="Label one by one").click()  # with the grid's model, no order named
        expect(page.locator("#sort")).to_have_value("margin")
        expect(page.locator("#filename")).to_have_text(walk[0]["filename"])
        page.keyboard.press("ArrowRight")
        expect(page.locator("#filename")).to_have_text(walk[1]["filename"])
    finally:
        for item in some:
            demo.set_label(item["id"], item["label"])


def test_previous_and_next_follow_the_grids_filter(page, demo, demo_credentials):
    model_id = demo.models["digits-logistic-regression"]
    expected = [i["id"] for i in demo.items(f"?label=5&model={model_id}&sort=-score")[:3]]
    sign_in(page, "victor", demo_credentials["victor"])  # a viewer may walk too
    page.goto(f"/#/datasets/{demo.dataset_id}?label=5&model={model_id}&sort=-score")
    expect(page.locator(".cell").first).to_be_visible()
    expect(page.locator(".cell").first).to_have_attribute("data-id", expected[0])
    page.locator(".cell a").first.click()
    expect(page).to_have_url(f"{demo.base_url}/#/datasets/{demo.dataset_id}/items/{expected[0]}")
    expect(page.locator("#item-position")).to_contain_text("Item 1 of")
    expect(page.locator("#item-position")).to_contain_text("label 5")
    expect(page.locator("#predictions tbody tr")).to_have_count(len(demo.models))
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(f"{demo.base_url}/#/datasets/{demo.dataset_id}/items/{expected[1]}")
    expect(page.locator("#item-position")).to_contain_text("Item 2 of")
    page.get_by_role("button", name="Next →").click()
    expect(page).to_have_url(f"{demo.base_url}/#/datasets/{demo.dataset_id}/items/{expected[2]}")
    expect(page.locator("#item-position")).to_contain_text("Item 3 of")  # the page is ready for keys
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{demo.base_url}/#/datasets/{demo.dataset_id}/items/{expected[1]}")
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#item-position")).to_contain_text("Item 1 of")
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    # Zoom: the buttons change the scale, Fit puts it back.
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#zoom-level")).to_have_text("150 %")
    page.get_by_role("button", name="Fit").click()
    expect(page.locator("#zoom-level")).to_have_text("100 %")
    shot(page, "item")


def annotations(demo: Demo, item_id: str) -> dict:
    return demo.call("GET", f"/datasets/{demo.dataset_id}/items/{item_id}/annotations")


def put_boxes(demo: Demo, item_id: str, boxes: list[dict]) -> dict:
    version = annotations(demo, item_id)["version"]
    path = f"/datasets/{demo.dataset_id}/items/{item_id}/annotations"
    return demo.call("PUT", path, json={"boxes": boxes, "version": version})


def image_scale(page) -> tuple[dict, float]:
    """The image's box on screen and screen pixels per image pixel (the demo's digits are 64x64)."""
    box = page.locator("#image").bounding_box()
    return box, box["width"] / 64


def test_a_box_is_moved_resized_deleted_and_saved(page, demo, demo_credentials):
    item = demo.items("?limit=3")[1]
    put_boxes(demo, item["id"], [{"label": "1", "x": 8, "y": 8, "w": 16, "h": 16}])
    sign_in(page, "bob", demo_credentials["bob"])
    page.goto(f"/#/datasets/{demo.dataset_id}/items/{item['id']}")
    body = page.locator("#boxes rect.body")
    expect(body).to_have_count(1)
    origin, scale = image_scale(page)
    # Drag the box by (10, 6) image pixels.
    start = (origin["x"] + 16 * scale, origin["y"] + 16 * scale)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 10 * scale, start[1] + 6 * scale, steps=6)
    page.mouse.up()
    # Its bottom-right handle by (4, 2): the box grows.
    handle = page.locator('#boxes rect.handle[data-handle="se"]').bounding_box()
    corner = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.move(*corner)
    page.mouse.down()
    page.mouse.move(corner[0] + 4 * scale, corner[1] + 2 * scale, steps=4)
    page.mouse.up()
    page.get_by_role("button", name="Save boxes").click()
    expect(page.locator("#box-state")).to_have_text("Saved")
    saved = annotations(demo, item["id"])["boxes"]
    assert len(saved) == 1
    assert saved[0]["label"] == "1"
    for key, want in {"x": 18, "y": 14, "w": 20, "h": 18}.items():
        assert abs(saved[0][key] - want) < 0.6, (key, saved[0])
    shot(page, "box-moved")
    # Selected still: the Delete key removes it.
    page.locator("#frame").focus()
    page.keyboard.press("Delete")
    expect(body).to_have_count(0)
    page.get_by_role("button", name="Save boxes").click()
    expect(page.locator("#box-state")).to_have_text("Saved")
    assert annotations(demo, item["id"])["boxes"] == []


def test_a_conflict_keeps_the_unsaved_boxes_and_reapplies_them(page, page_watch, demo, demo_credentials):
    page_watch.allow(409, "/annotations")
    item = demo.items("?limit=3")[2]
    put_boxes(demo, item["id"], [])
    sign_in(page, "bob", demo_credentials["bob"])
    page.goto(f"/#/datasets/{demo.dataset_id}/items/{item['id']}")
    expect(page.locator("#box-list")).to_contain_text("none")
    page.locator("#box-class").select_option("7")
    origin, scale = image_scale(page)
    page.mouse.move(origin["x"] + 4 * scale, origin["y"] + 4 * scale)
    page.mouse.down()
    page.mouse.move(origin["x"] + 20 * scale, origin["y"] + 24 * scale, steps=5)
    page.mouse.up()
    expect(page.locator("#box-list li")).to_have_count(1)

    theirs = {"label": "2", "x": 40, "y": 40, "w": 10, "h": 12}
    put_boxes(demo, item["id"], [theirs])  # someone else saves first
    page.get_by_role("button", name="Save boxes").click()
    expect(page.locator("#box-state")).to_have_text("Not saved: someone else saved first.")
    expect(page.locator("#conflict")).to_contain_text("Someone else saved boxes on this item first")
    expect(page.locator("#box-list li")).to_have_count(1)  # mine, still here
    expect(page.locator("#boxes rect.body")).to_have_count(1)
    shot(page, "conflict")
    page.get_by_role("button", name="Re-apply my boxes").click()
    expect(page.locator("#box-list li")).to_have_count(2)
    page.get_by_role("button", name="Save boxes").click()
    expect(page.locator("#box-state")).to_have_text("Saved")
    saved = annotations(demo, item["id"])["boxes"]
    assert sorted(b["label"] for b in saved) == ["2", "7"]
    assert {k: v for k, v in next(b for b in saved if b["label"] == "2").items() if k in theirs} == theirs
    mine = next(b for b in saved if b["label"] == "7")
    assert abs(mine["x"] - 4) < 0.6 and abs(mine["w"] - 16) < 0.6 and abs(mine["h"] - 20) < 0.6


def test_a_confusion_cell_lists_exactly_its_items(page, demo, demo_credentials):
    comparison = demo.call(
        "POST", "/comparisons", json={"dataset_id": demo.dataset_id, "model_ids": sorted(demo.models.values())}
    )
    for job_id in comparison["job_ids"]:
        demo.wait_job(job_id)
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/comparisons/{comparison['id']}")
    expect(page.locator("#comparison-status")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#per-class tbody tr")).to_have_count(10)
    matrix = page.get_by_role("table", name="Confusion matrix of digits-random-forest")
    link, query = None, {}
    for a in matrix.locator("td.cell-link a").all():  # the first cell off the diagonal
        fragment = urlsplit(a.get_attribute("href")).fragment
        query = {k: v[0] for k, v in parse_qs(fragment.split("?", 1)[1]).items()}
        if query["label"] != query["predicted"]:
            link = a
            break
    assert link is not None, "the random forest makes no mistake on digits?"
    count = int(link.inner_text())
    link.click()
    expect(page.locator("#filters select[name=predicted]")).to_have_value(query["predicted"])
    expected = demo.items(f"?label={query['label']}&model={query['model']}&predicted={query['predicted']}")
    assert len(expected) == count
    expect(page.locator(".cell")).to_have_count(len(expected))
    matches = "item matches" if len(expected) == 1 else "items match"
    expect(page.locator("#count")).to_have_text(f"{len(expected)} {matches}")
    shown = sorted(page.locator(".cell").evaluate_all("cells => cells.map((c) => c.dataset.id)"))
    assert shown == sorted(i["id"] for i in expected)
    expect(page.locator(".cell.disagree").first).to_be_visible()  # predicted != label, marked
    shot(page, "confusion-cell")


def test_review_likely_mistakes_by_keyboard(page, demo, demo_credentials):
    first, second = demo.call("GET", f"/datasets/{demo.dataset_id}/mistakes?limit=2")["items"]
    sign_in(page, "bob", demo_credentials["bob"])
    page.goto(f"/#/datasets/{demo.dataset_id}/review")
    rows = page.locator("#review li[data-id]")
    expect(rows.first).to_have_attribute("data-id", first["item_id"])
    try:
        page.keyboard.press("k")  # keep the first one's label: it leaves the list
        expect(page.locator("#review-state")).to_contain_text(f"keeps {first['label']}")
        expect(rows.first).to_have_attribute("data-id", second["item_id"])
        expect(rows.first).to_be_focused()
        page.keyboard.press("a")  # the second one takes the suggestion
        expect(page.locator("#review-state")).to_contain_text(f"is now {second['suggested']}")
        assert (
            demo.call("GET", f"/datasets/{demo.dataset_id}/items/{second['item_id']}")["label"] == second["suggested"]
        )
        ids = [m["item_id"] for m in demo.call("GET", f"/datasets/{demo.dataset_id}/mistakes?limit=1000")["items"]]
        assert first["item_id"] not in ids
        shot(page, "review")
    finally:
        demo.set_label(second["item_id"], second["label"])


def test_a_jobs_failed_items_are_counted_and_listed(page, demo, demo_credentials, tmp_path):
    """A job over a good PNG and a truncated one: one item fails, and the job says so with its reason."""
    dataset = demo.call(
        "POST", "/datasets", json={"name": f"errors-{uuid.uuid4().hex[:6]}", "label_classes": ["0", "1"]}
    )
    good = tmp_path / "good.png"
    Image.new("L", (64, 64), 0).save(good)
    client = EdnaClient(demo.base_url, demo.token)
    client.upload(dataset["id"], "good.png", good.read_bytes(), "image/png")
    client.upload(dataset["id"], "broken.png", good.read_bytes()[:60], "image/png")  # cut short: undecodable
    job = demo.call(
        "POST", "/jobs", json={"dataset_id": dataset["id"], "model_id": demo.models["digits-random-forest"]}
    )
    job = demo.wait_job(job["id"])
    failed = demo.call("GET", f"/jobs/{job['id']}/predictions?errors=true")["items"]
    assert [e["filename"] for e in failed] == ["broken.png"]
    sign_in(page, "victor", demo_credentials["victor"])
    page.goto(f"/#/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_contain_text("1 error")
    expect(page.locator("#job-errors tbody tr")).to_have_count(1)
    expect(page.locator("#job-errors")).to_contain_text("broken.png")
    page.goto("/#/jobs")
    expect(page.locator("#jobs tbody tr").filter(has_text=dataset["name"])).to_contain_text("1 error")
    shot(page, "job-errors")


def test_bulk_accept_says_how_many_items_first(page, demo, demo_credentials):
    model_id = demo.models["digits-logistic-regression"]
    path = f"/datasets/{demo.dataset_id}/predictions/accept"
    body = {"model_id": model_id, "min_score": 0.99, "overwrite": True, "dry_run": True, "query": {"label": "4"}}
    expected = demo.call("POST", path, json=body)["matched"]
    assert expected > 0
    sign_in(page, "bob", demo_credentials["bob"])
    page.goto(f"/#/datasets/{demo.dataset_id}?label=4")
    page.get_by_text("Accept a model's predictions as labels").click()
    form = page.locator("#accept-form")
    form.locator("select[name=model]").select_option(model_id)
    form.get_by_label("Lowest score").fill("0.99")
    form.get_by_label("Only items the filters above show").check()
    form.get_by_label("Replace labels people set").check()
    form.get_by_role("button", name="Count items").click()
    expect(page.locator("#accept-count")).to_have_text(
        f"{expected} items will be labelled with the model's prediction."
    )
    expect(page.get_by_role("button", name=f"Label {expected} items")).to_be_visible()  # not pressed: a dry run only
    form.get_by_label("Lowest score").fill("0.5")
    expect(page.get_by_role("button", name=f"Label {expected} items")).to_be_hidden()  # a changed form counts again
