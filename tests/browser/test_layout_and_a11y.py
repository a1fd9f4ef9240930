"""Every view at phone, tablet and desktop sizes: nothing wider than the screen, and no serious or critical
accessibility violation by axe-core (pinned: the copy inside axe-playwright-python, run offline).

Each view's screenshot is kept in test-artifacts/browser/, and the figures of the walk (widest layout,
violations per view and size) in test-artifacts/browser/layout-a11y.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import axe_playwright_python
import pytest
from harness import ARTIFACTS, needs_chromium, shot, sign_in
from playwright.sync_api import expect

from service.client import ApiError, EdnaClient

pytest_plugins = ["harness"]
pytestmark = needs_chromium

VIEWPORTS = {"phone": (390, 844), "tablet": (768, 1024), "desktop": (1440, 900)}
AXE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
SERIOUS = ("serious", "critical")
FIGURES = ARTIFACTS / "layout-a11y.json"


@pytest.fixture(scope="module")
def routes(edna_server, demo_credentials) -> dict[str, str]:
    """Every view's address on the demo: the digits dataset, an item, a job and a comparison of its models."""
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    dataset = next(d for d in client.pages("/api/datasets") if d["name"] == "digits")
    item = client.call("GET", f"/api/datasets/{dataset['id']}/items", params={"limit": 1})["items"][0]
    job = next(iter(client.pages("/api/jobs")))
    models = [m["id"] for m in client.pages("/api/models")][:2]
    comparison = compare(client, {"dataset_id": dataset["id"], "model_ids": models})
    d = f"#/datasets/{dataset['id']}"
    return {
        "datasets": "#/datasets",
        "dataset": d,
        "item": f"{d}/items/{item['id']}",
        "label": f"{d}/label",
        "review": f"{d}/review",
        "similar": f"{d}/similar/{item['id']}",
        "duplicates": f"{d}/duplicates",
        "map": f"{d}/map",
        "models": "#/models",
        "jobs": "#/jobs",
        "job": f"#/jobs/{job['id']}",
        "comparison": f"#/comparisons/{comparison['id']}",
        "admin": "#/admin",
        "audit": "#/admin/audit",
        "account": "#/account",
    }


def compare(client: EdnaClient, body: dict, wait: float = 180.0) -> dict:
    """A comparison, once the tenant's job slots allow it (other tests' jobs may hold them a while)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return client.call("POST", "/api/comparisons", json=body)
        except ApiError as error:
            if error.status != 429 or time.monotonic() > deadline:
                raise
            time.sleep(1)


def widest(page) -> int:
    """The layout's width: the document's, or the right edge of any element not inside a box that
    scrolls or clips it (what a page hiding its overflow would cut off, e.g. a header's Sign out)."""
    return page.evaluate(
        """() => {
            const clipped = (e) => {
                for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                    if (getComputedStyle(a).overflowX !== "visible") return true;
                }
                return false;
            };
            const edges = [...document.querySelectorAll("body *")]
                .filter((e) => e.getClientRects().length && !clipped(e))
                .map((e) => Math.ceil(e.getBoundingClientRect().right + window.scrollX));
            return Math.max(document.documentElement.scrollWidth, ...edges);
        }"""
    )


def small_targets(page) -> list[str]:
    """Controls a finger would miss on a phone: buttons, selects and fields under 44 px high."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
                "button, .button, select, input:not([type=checkbox], [type=radio], [type=range], [type=hidden])")]
            .filter((e) => e.getClientRects().length && e.getBoundingClientRect().height < 43.5)
            .map((e) => `${e.tagName.toLowerCase()} "${(e.textContent || e.name || e.id).trim().slice(0, 30)}"`)"""
    )


def serious_violations(page) -> list[str]:
    page.evaluate(AXE)
    found = page.evaluate("() => axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_view_fits_the_screen_and_has_no_serious_violation(browser, edna_server, demo_credentials, routes, size):
    width, height = VIEWPORTS[size]
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=edna_server.base_url)
    page = context.new_page()
    figures: dict[str, dict] = {}
    problems: list[str] = []
    try:
        page.goto("/")
        expect(page.get_by_label("User name")).to_be_visible()
        views = [("sign-in", None), *routes.items()]
        for name, route in views:
            if route is not None:
                if name == "datasets":
                    sign_in(page, "alice", demo_credentials["alice"])
                page.goto("/" + route)
                expect(page.locator("#view")).not_to_contain_text("Loading…")
                page.wait_for_load_state("networkidle")
            layout = widest(page)
            violations = serious_violations(page)
            shot(page, f"{size}-{name}")
            figures[name] = {"widest": layout, "serious": len(violations)}
            if layout > width:
                problems.append(f"{name}: {layout} px wide at {width} px")
            if size == "phone":
                problems += [f"{name}: {target} is under 44 px high" for target in small_targets(page)]
            problems += [f"{name}: {v}" for v in violations]
    finally:
        context.close()
        record = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        record[f"{size} {width}x{height}"] = figures
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text(json.dumps(record, indent=1))
    assert not problems, "\n".join(problems)
