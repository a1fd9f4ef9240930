"""The workbench by keyboard alone (no mouse call anywhere): sign in, reach the 20th item of the grid,
draw and adjust a box and save it, label ten items in labelling mode; the grid is one tab stop.

The dataset is this module's own (24 small PNGs, classes "cat" and "dog"), so the demo stays as others
expect it. The Tab presses to reach the 20th item are printed (and kept in test-artifacts/browser/).
"""

from __future__ import annotations

import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import ARTIFACTS, needs_chromium, shot
from PIL import Image
from playwright.sync_api import expect

from service.client import EdnaClient

pytest_plugins = ["harness"]
pytestmark = needs_chromium

ITEMS = 24


def png(n: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (n * 10 % 256, 80, 160)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def dataset(edna_server, demo_credentials) -> tuple[EdnaClient, dict]:
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    made = client.call(
        "POST", "/api/datasets", json={"name": f"keys-{uuid.uuid4().hex[:6]}", "label_classes": ["cat", "dog"]}
    )
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.upload(made["id"], f"k-{n:02d}.png", png(n), "image/png"), range(ITEMS)))
    return client, client.call("GET", f"/api/datasets/{made['id']}")


def focused(page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement;
            return { id: e.id, text: (e.textContent || "").trim().slice(0, 80), index: e.dataset?.index ?? null,
                     role: e.getAttribute("role"), href: e.getAttribute("href") }; }"""
    )


def tab_until(page, wanted, limit: int = 120) -> int:
    """Press Tab until `wanted(focused)` holds; returns how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if wanted(focused(page)):
            return presses
    raise AssertionError(f"not reached in {limit} Tabs; focus is on {focused(page)}")


def test_a_keyboard_only_walk(page, dataset, demo_credentials):
    client, made = dataset
    path = f"/api/datasets/{made['id']}"

    # Sign in: the form takes focus; type, Tab, type, Enter.
    page.goto("/")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(demo_credentials["alice"])
    page.keyboard.press("Enter")
    expect(page.locator("#my-role")).to_be_visible()

    # The datasets list: Tab to this dataset's link, Enter opens it.
    expect(page.get_by_role("link", name=made["name"])).to_be_visible()
    tab_until(page, lambda f: f["text"] == made["name"])
    page.keyboard.press("Enter")
    expect(page.locator(".cell")).to_have_count(ITEMS)

    # As the page opens, focus is at the start of the view: one Tab reaches "Skip to the items", Enter
    # lands on the grid's first item, arrows do the rest. The grid is one tab stop: Tab leaves it at once.
    with_skip = tab_until(page, lambda f: f["text"] == "Skip to the items")
    page.keyboard.press("Enter")
    assert focused(page)["index"] == "0"
    for _ in range(19):
        page.keyboard.press("ArrowRight")
    assert focused(page)["index"] == "19"
    page.keyboard.press("Tab")
    assert focused(page)["role"] != "gridcell", "the grid holds more than one tab stop"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["index"] == "19"  # back on the item it left
    page.evaluate("() => document.getElementById('view').focus()")  # where a route leaves focus
    without_skip = tab_until(page, lambda f: f["role"] == "gridcell")
    figures = {"tabs_to_20th_item": with_skip, "tabs_without_skip_link": without_skip}
    (ARTIFACTS / "keyboard.json").write_text(json.dumps(figures))
    print(
        f"\nTab presses to the 20th grid item: {with_skip} (then Enter and 19 x ArrowRight); "
        f"{without_skip} through every control before the grid"
    )
    assert with_skip <= 3

    # Space selects, Enter opens: the 20th item.
    assert focused(page)["index"] == "19"
    page.keyboard.press("Space")
    expect(page.locator('.cell[aria-selected="true"]')).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#image")).to_be_visible()

    # A box by keyboard: B adds one in the middle, arrows move it, Alt+arrows resize it; then save.
    item_id = page.url.rsplit("/", 1)[1]
    page.keyboard.press("b")
    for key in ("ArrowLeft", "ArrowLeft", "ArrowUp", "Alt+ArrowRight", "Alt+ArrowDown", "Alt+ArrowDown"):
        page.keyboard.press(key)
    tab_until(page, lambda f: f["id"] == "save-boxes")
    page.keyboard.press("Enter")
    expect(page.locator("#box-state")).to_contain_text("Saved")
    boxes = client.call("GET", f"{path}/items/{item_id}/annotations")["boxes"]
    assert boxes == [{"label": "cat", "x": 10, "y": 11, "w": 9, "h": 10}]  # 8x8 in the middle of 32x32, then moved
    shot(page, "box")

    # Labelling mode: reached from the item page by keys, ten items labelled with the class's key.
    tab_until(page, lambda f: f["text"] == "Label this dataset one by one")
    page.keyboard.press("Enter")
    expect(page.locator("#filename")).not_to_be_empty()
    key = made["hotkeys"]["dog"]
    for _ in range(10):
        shown = page.locator("#filename").text_content()
        page.keyboard.press(key)
        expect(page.locator("#filename")).not_to_have_text(shown)  # saved, and on to the next
    labelled = [i for i in client.pages(f"{path}/items") if i["label"] == "dog"]
    assert len(labelled) == 10
