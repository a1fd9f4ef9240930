"""`/api/docs` works with no network: Swagger UI comes from Edna itself and renders every operation."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness import needs_chromium, shot
from playwright.sync_api import expect

pytest_plugins = ["harness"]
pytestmark = needs_chromium


def test_the_docs_render_and_try_an_operation_offline(page, edna_server):
    own = urlsplit(edna_server.base_url).netloc
    elsewhere: list[str] = []

    def offline(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:  # what a machine without internet would do to a CDN request
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto("/api/docs", wait_until="networkidle")
    health = page.locator(".opblock-summary", has_text="/api/health").first
    expect(health).to_be_visible()
    health.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tr.response td.response-col_status").first).to_contain_text("200")
    shot(page, "docs")
    assert elsewhere == []
