"""The grid's actions in a real Chromium, on a dataset of 30 small PNGs made for this module through
the API: sorts, the exact number of matches (kept current after an upload), "select all N matches"
changing every match on the server (labels at phone size, tags at desktop size), deleting items from
the item page and from a selection, editing an item's tags, renaming a label class (a run with
progress), the three exports, and a viewer who is offered none of the editing controls."""

from __future__ import annotations

import io
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import needs_chromium, shot, sign_in
from PIL import Image
from playwright.sync_api import expect

from service.client import EdnaClient

pytest_plugins = ["harness"]
pytestmark = needs_chromium

ITEMS = 30
CLASSES = ["cat", "dog", "bird"]
LABELS = {0: "cat", 1: "cat", 2: "cat", 3: "cat", 4: "cat", 5: "cat", 6: "dog", 7: "dog", 8: "dog", 9: "dog"}
PHONE = {"width": 390, "height": 844}


def png(n: int) -> bytes:
    """A noisy PNG whose size grows with n (noise does not compress), so the size sorts differ."""
    side = 4 + n
    pixels = random.Random(n).randbytes(side * side * 3)  # noqa: S311 - test pixels, not a secret
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Grid:
    client: EdnaClient
    dataset_id: str

    @property
    def path(self) -> str:
        return f"/api/datasets/{self.dataset_id}"

    def count(self, **filters) -> int:
        return self.client.call("GET", f"{self.path}/items/count", params=filters)["count"]

    def items(self, **params) -> list[dict]:
        return list(self.client.pages(f"{self.path}/items", **params))

    def dataset(self) -> dict:
        return self.client.call("GET", self.path)


@pytest.fixture(scope="module")
def grid(edna_server, demo_credentials) -> Grid:
    """alice's dataset of 30 PNGs (img-00 … img-29, growing in bytes), 6 labelled cat and 4 dog."""
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    dataset = client.call(
        "POST", "/api/datasets", json={"name": f"grid-{uuid.uuid4().hex[:6]}", "label_classes": CLASSES}
    )
    g = Grid(client, dataset["id"])
    with ThreadPoolExecutor(8) as pool:
        items = list(
            pool.map(lambda n: client.upload(g.dataset_id, f"img-{n:02d}.png", png(n), "image/png"), range(ITEMS))
        )
    labels = [{"item_id": items[n]["id"], "label": label} for n, label in LABELS.items()]
    client.call("POST", f"{g.path}/labels", json={"labels": labels})
    return g


def cell_ids(page, n: int) -> list[str]:
    return page.locator(".cell").evaluate_all(f"cells => cells.slice(0, {n}).map((c) => c.dataset.id)")


def test_sorts_exact_totals_and_an_upload_shown_where_the_sort_puts_it(page, grid, demo_credentials, tmp_path):
    total = grid.count()
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/datasets/{grid.dataset_id}")
    expect(page.locator("#count")).to_have_text(f"{total} items match")
    sort = page.locator("#filters select[name=sort]")
    for value in ("-name", "size", "-size", "label", "-label", "-created_at"):
        sort.select_option(value)
        expected = [
            i["id"] for i in grid.client.call("GET", f"{grid.path}/items", params={"sort": value, "limit": 5})["items"]
        ]
        expect(page.locator(".cell").first).to_have_attribute("data-id", expected[0])
        assert cell_ids(page, 5) == expected, value
    sort.select_option("-name")
    expect(page.locator(".cell").first).to_contain_text("img-29.png")
    page.locator("#filters select[name=label]").select_option("cat")
    expect(page.locator("#count")).to_have_text(f"{grid.count(label='cat')} items match")
    page.locator("#filters select[name=label]").select_option("")
    shot(page, "sorted")

    # A new file sorts first by name: it shows there (not at the end), and every count moves on.
    sort.select_option("name")
    path = tmp_path / "aaa-new.png"
    path.write_bytes(png(1))
    page.locator("#files").set_input_files(str(path))
    expect(page.locator(".upload-status.ok")).to_have_count(1)
    expect(page.locator(".cell").first).to_contain_text("aaa-new.png")
    expect(page.locator("#count")).to_have_text(f"{total + 1} items match")
    expect(page.locator("#summary")).to_contain_text(f"{total + 1} items")
    assert grid.count() == total + 1

    # Every export format downloads, as a file named after the dataset.
    for fmt, extension in (("csv", "csv"), ("jsonl", "jsonl"), ("coco", "json")):
        with page.expect_download() as download:
            page.locator(f"[data-format={fmt}]").click()
        assert download.value.suggested_filename.endswith("." + extension), fmt
        assert Path(download.value.path()).stat().st_size > 0, fmt


def test_select_all_matches_labels_every_match_on_the_server_at_phone_size(page, grid, demo_credentials):
    page.set_viewport_size(PHONE)
    unlabelled = grid.count(unlabeled="true")
    assert unlabelled > 0
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/datasets/{grid.dataset_id}?unlabeled=true")
    expect(page.locator("#count")).to_have_text(f"{unlabelled} items match")
    page.get_by_role("button", name=f"Select all {unlabelled} matches").click()
    bar = page.locator("#bulk-bar")
    bar.locator("select[name=label]").select_option("bird")
    bar.get_by_role("button", name="Count and apply…").click()
    expect(bar.locator("#bulk-query-question")).to_have_text(f"Label {unlabelled} items as bird?")
    shot(page, "bulk-bar-phone")
    fit = bar.evaluate("b => [b.getBoundingClientRect().right, b.scrollWidth - b.clientWidth]")
    assert fit[0] <= PHONE["width"] and fit[1] <= 0, f"the bulk bar overflows the phone: {fit}"
    bar.get_by_role("button", name=f"Yes, label {unlabelled} items").click()
    expect(bar.locator("#bulk-query-progress")).to_contain_text(f"{unlabelled} items labelled.")
    expect(bar.locator("progress")).to_have_attribute("value", str(unlabelled))
    expect(page.locator("#count")).to_have_text("No items match: change or clear the filters.")
    shot(page, "bulk-done-phone")
    assert grid.count(unlabeled="true") == 0
    assert grid.count(label="bird") >= unlabelled


def test_tags_for_every_match_and_on_one_item_then_deletes(page, grid, demo_credentials):
    cats = grid.count(label="cat")
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/datasets/{grid.dataset_id}?label=cat")
    expect(page.locator("#count")).to_have_text(f"{cats} items match")
    page.get_by_role("button", name=f"Select all {cats} matches").click()
    bar = page.locator("#bulk-bar")
    bar.locator("select[name=action]").select_option("tags")
    bar.get_by_role("textbox", name="Tags").fill("reviewed=yes")
    bar.get_by_role("button", name="Count and apply…").click()
    expect(bar.locator("#bulk-query-question")).to_have_text(f"Tag {cats} items with reviewed=yes?")
    bar.get_by_role("button", name=f"Yes, tag {cats} items").click()
    expect(bar.locator("#bulk-query-progress")).to_contain_text(f"{cats} items tagged.")
    assert all(i["tags"].get("reviewed") == "yes" for i in grid.items(label="cat"))

    # One item's tags: added, changed, removed.
    first = page.locator(".cell").first
    item_id = first.get_attribute("data-id")
    first.locator("a").first.click()
    tags = page.locator("#tags-holder")
    tags.get_by_label("Tag", exact=True).fill("source")
    tags.get_by_label("Value").fill("camera")
    tags.get_by_role("button", name="Save tag").click()
    expect(tags.locator(".chip", has_text="source=camera")).to_be_visible()
    tags.get_by_role("button", name="Change tag source").click()
    tags.get_by_label("Value").fill("phone")
    tags.get_by_role("button", name="Save tag").click()
    expect(tags.locator(".chip", has_text="source=phone")).to_be_visible()
    assert grid.client.call("GET", f"{grid.path}/items/{item_id}")["tags"] == {"reviewed": "yes", "source": "phone"}
    tags.get_by_role("button", name="Remove tag reviewed").click()
    expect(tags.locator(".chip", has_text="reviewed=yes")).to_have_count(0)
    assert grid.client.call("GET", f"{grid.path}/items/{item_id}")["tags"] == {"source": "phone"}
    shot(page, "item-tags")

    # Deleting it (asked first) leads back to the grid, one fewer.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete item").click()
    expect(page.locator("#count")).to_have_text(f"{cats - 1} items match")
    grid.client.call("GET", f"{grid.path}/items/{item_id}", expect=(404,))

    # Two selected cells deleted at once.
    before = grid.count()
    page.locator("#filters select[name=label]").select_option("")
    expect(page.locator("#count")).to_have_text(f"{before} items match")
    chosen = cell_ids(page, 2)
    for item in chosen:
        page.locator(f'[data-select="{item}"]').check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete 2 selected").click()
    expect(page.locator("#count")).to_have_text(f"{before - 2} items match")
    expect(page.locator("#summary")).to_contain_text(f"{before - 2} items")
    assert grid.count() == before - 2
    for item in chosen:
        grid.client.call("GET", f"{grid.path}/items/{item}", expect=(404,))


def test_label_classes_added_removed_and_renamed_with_progress(page, grid, demo_credentials):
    dogs = grid.count(label="dog")
    assert dogs > 0
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/datasets/{grid.dataset_id}")
    classes = page.locator("#classes")
    classes.locator("summary").click()
    classes.get_by_label("New class").fill("fish")
    classes.get_by_role("button", name="Add class").click()
    expect(page.locator("#toasts")).to_contain_text("Class fish added")
    assert grid.dataset()["label_classes"] == [*CLASSES, "fish"]
    expect(page.locator("#classes summary")).to_have_text("Label classes (4)")  # the page shows the new classes
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#classes summary").click()
    page.get_by_role("button", name="Remove fish").click()
    expect(page.locator("#toasts")).to_contain_text("Class fish removed")
    assert grid.dataset()["label_classes"] == CLASSES
    expect(page.locator("#classes summary")).to_have_text("Label classes (3)")
    page.locator("#classes summary").click()
    page.get_by_role("button", name="Rename dog").click()
    page.get_by_label("New name for “dog”").fill("canine")
    page.locator("#rename-form").get_by_role("button", name="Rename").click()
    expect(page.locator("#toasts")).to_contain_text(f"Renamed dog to canine: {dogs} items relabelled")
    expect(page.locator("#filters select[name=label] option", has_text="canine")).to_have_count(1)
    shot(page, "renamed")
    assert grid.dataset()["label_classes"] == ["cat", "canine", "bird"]
    assert grid.count(label="canine") == dogs
    assert grid.count(label="dog") == 0


def test_a_viewer_is_offered_no_editing_control(page, grid, demo_credentials):
    sign_in(page, "victor", demo_credentials["victor"])
    page.goto(f"/#/datasets/{grid.dataset_id}")
    expect(page.locator("#count")).to_have_text(f"{grid.count()} items match")
    for absent in (
        "#select-matches",
        "#bulk",
        "#bulk-bar",
        "#delete-selected",
        "#classes",
        "#dropzone",
        "[data-select]",
    ):
        expect(page.locator(absent)).to_have_count(0)
    expect(page.locator("[data-format]")).to_have_count(3)
    page.locator(".cell a").first.click()
    expect(page.locator("#tags-holder")).to_be_visible()
    for absent in ("#delete-item", "#tag-form", "[data-remove]"):
        expect(page.locator(absent)).to_have_count(0)
    shot(page, "viewer-item")
