"""Similarity in a real Chromium against a real `python -m service run`: on a small digits dataset with
one planted copy and one embedding model's job, the item page's strip shows the copy nearest, "find
similar" works from a grid cell and from an uploaded image, and on the map a lasso selects points
that are then labelled in bulk (the API shows the new labels)."""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from harness import needs_chromium, shot, sign_in
from playwright.sync_api import expect

from service.client import EdnaClient
from service.demo import DIGITS_INPUT, digit_embedding_model, digit_pngs

pytest_plugins = ["harness"]
pytestmark = needs_chromium

COUNT = 60  # digits in the dataset, plus one copy of the first
JOB_TIMEOUT_S = 180
MAP_PAD = 16  # CSS pixels around the map at fit (PAD in static/parts/map-canvas.js)


@dataclass
class Space:
    client: EdnaClient
    dataset_id: str
    original: dict  # the first digit
    copy: dict  # its planted copy

    def call(self, method: str, path: str, **kwargs):
        return self.client.call(method, "/api" + path, **kwargs)

    def points(self) -> list[dict]:
        return self.call("GET", f"/datasets/{self.dataset_id}/map?limit=10000")["items"]


def wait_until(client: EdnaClient, path: str, done) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not done(body := client.call("GET", path)):
        assert time.monotonic() < deadline, f"{path}: {body}"
        time.sleep(0.5)
    return body


@pytest.fixture(scope="module")
def space(edna_server, demo_credentials) -> Space:
    """alice's fresh digits dataset (labelled, with a copy of its first digit) and an embedding-only
    model's finished job over it: the one job the module runs (besides a query's)."""
    login = requests.post(
        edna_server.url("/api/auth/token"),
        json={"username": "alice", "password": demo_credentials["alice"]},
        timeout=10,
    )
    client = EdnaClient(edna_server.base_url, login.json()["access_token"])
    classes = [str(d) for d in range(10)]
    dataset_id = client.call(
        "POST", "/api/datasets", json={"name": f"look-alikes-{uuid.uuid4().hex[:6]}", "label_classes": classes}
    )["id"]
    labels = []
    for name, png, target in digit_pngs()[:COUNT]:
        item = client.upload(dataset_id, name, png, "image/png")
        labels.append({"item_id": item["id"], "label": str(target)})
    name, png, target = digit_pngs()[0]
    copy = client.upload(dataset_id, "copy-" + name, png, "image/png")
    labels.append({"item_id": copy["id"], "label": str(target)})
    client.call("POST", f"/api/datasets/{dataset_id}/labels", json={"labels": labels})

    onnx = digit_embedding_model()
    body = {"name": f"embed-{uuid.uuid4().hex[:6]}", "class_names": [], "embedding_output": "embedding"}
    ticket = client.call("POST", "/api/models", json={**body, "input": DIGITS_INPUT, "size": len(onnx)})
    client.transfer(ticket["upload"], onnx, "application/octet-stream")
    model = client.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={})
    job = client.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model["id"]})
    assert (
        wait_until(client, f"/api/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"))["status"]
        == "succeeded"
    )
    wait_until(client, f"/api/datasets/{dataset_id}/embeddings", lambda body: body["items"])
    original = client.call("GET", f"/api/datasets/{dataset_id}/items/{labels[0]['item_id']}")
    return Space(client, dataset_id, original, copy)


def test_the_similar_strip_shows_the_planted_copy_nearest(page, space, demo_credentials):
    sign_in(page, "victor", demo_credentials["victor"])  # a viewer may search
    page.goto(f"/#/datasets/{space.dataset_id}/items/{space.original['id']}")
    strip = page.locator("#similar li")
    expect(strip).to_have_count(12)
    expect(strip.first).to_have_attribute("data-id", space.copy["id"])
    expect(strip.first.locator(".similarity")).to_have_text("100 %")
    expect(strip.first.locator(".caption").first).to_have_text(space.original["label"])
    shot(page, "strip")
    strip.first.locator("a").click()  # the copy's own strip has the original nearest
    expect(page.locator("h1")).to_have_text(space.copy["filename"])
    expect(page.locator("#similar li").first).to_have_attribute("data-id", space.original["id"])


def test_find_similar_from_a_cell_and_from_an_image(page, space, demo_credentials, tmp_path):
    sign_in(page, "victor", demo_credentials["victor"])
    page.goto(f"/#/datasets/{space.dataset_id}")
    page.get_by_role("link", name=f"Find items similar to {space.original['filename']}").click()
    results = page.locator("#similar-results li")
    expect(results.first).to_have_attribute("data-id", space.copy["id"])
    page.get_by_label("How many").fill("5")
    page.get_by_label("How many").press("Enter")
    expect(results).to_have_count(5)

    image = tmp_path / "mine.png"
    image.write_bytes(digit_pngs()[0][1])
    page.goto(f"/#/datasets/{space.dataset_id}")
    page.get_by_text("Find similar to an image").click()
    page.locator("#find-file").set_input_files(str(image))
    found = page.locator("#find-results li")
    expect(page.locator("#find-state")).to_have_text("24 items like mine.png", timeout=60_000)
    ids = found.evaluate_all("items => items.slice(0, 2).map((li) => li.dataset.id)")
    assert set(ids) == {space.original["id"], space.copy["id"]}
    shot(page, "find-similar")


def test_a_lasso_on_the_map_selects_points_that_are_labelled_in_bulk(page, space, demo_credentials):
    points = space.points()
    assert len(points) == COUNT + 1
    # The lasso's right edge runs down the widest gap between points near the middle of the map.
    xs = sorted(p["x"] for p in points)
    gap, edge = max((b - a, (a + b) / 2) for a, b in itertools.pairwise(xs) if 0.3 <= a <= 0.7)
    inside = [p for p in points if p["x"] < edge]
    before = {p["item_id"]: p["label"] for p in points}
    target = "7"
    assert inside and any(p["label"] != target for p in inside)

    sign_in(page, "bob", demo_credentials["bob"])  # a labeler
    page.goto(f"/#/datasets/{space.dataset_id}/map")
    expect(page.locator("#map-loaded")).to_have_text(f"{len(points)} points")
    canvas = page.locator("#map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    side = min(box["width"], box["height"]) - 2 * MAP_PAD
    assert gap * side > 6, "the points crowd the middle: no clean edge for the lasso"
    left, top = box["x"] + 2, box["y"] + 2
    right, bottom = box["x"] + box["width"] / 2 + (edge - 0.5) * side, box["y"] + box["height"] - 2

    page.keyboard.down("Shift")  # shift-drag draws a lasso
    page.mouse.move(left, top)
    page.mouse.down()
    for x, y in ((right, top), (right, bottom), (left, bottom), (left, top + 1)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(page.locator("#map-selected")).to_have_text(f"{len(inside)} selected")
    shot(page, "lasso")

    page.get_by_label("Label selection as").select_option(target)
    page.get_by_role("button", name=f"Label {len(inside)} selected").click()
    expect(page.locator("#map-outcome")).to_have_text(f"{len(inside)} labelled “{target}”.")
    after = {p["item_id"]: p["label"] for p in space.points()}
    for p in points:
        want = target if p["x"] < edge else before[p["item_id"]]
        assert after[p["item_id"]] == want, p
        item = space.call("GET", f"/datasets/{space.dataset_id}/items/{p['item_id']}")
        assert item["label"] == want

    # Coloured by prediction: an embedding-only model predicts nothing. A click on a point opens it.
    page.get_by_label("prediction", exact=True).check()
    expect(page.locator("#legend")).to_contain_text("no prediction")
    box = canvas.bounding_box()
    lone = max(points, key=lambda p: min(abs(p["x"] - q["x"]) + abs(p["y"] - q["y"]) for q in points if q is not p))
    x = box["x"] + (box["width"] - side) / 2 + lone["x"] * side
    y = box["y"] + (box["height"] - side) / 2 + (1 - lone["y"]) * side
    page.mouse.click(x, y)
    expect(page).to_have_url(f"{space.client.base_url}#/datasets/{space.dataset_id}/items/{lone['item_id']}")
