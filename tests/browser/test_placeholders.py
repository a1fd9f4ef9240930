"""An item without a thumbnail says why on its tile and its page (the API's preview_note), never a blank."""

from __future__ import annotations

import uuid

from harness import needs_chromium, shot, sign_in
from playwright.sync_api import expect

from service.client import EdnaClient

pytest_plugins = ["harness"]
pytestmark = needs_chromium


def test_a_file_that_is_not_an_image_says_so(page, edna_server, demo_credentials):
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    dataset = client.call("POST", "/api/datasets", json={"name": f"notes-{uuid.uuid4().hex[:6]}"})
    item = client.upload(dataset["id"], "notes.txt", b"just words", "text/plain")
    sign_in(page, "alice", demo_credentials["alice"])
    page.goto(f"/#/datasets/{dataset['id']}")
    expect(page.locator(".cell .placeholder")).to_have_text("not an image")
    shot(page, "grid")
    page.goto(f"/#/datasets/{dataset['id']}/items/{item['id']}")
    expect(page.locator("#preview-note")).to_have_text("not an image")
    expect(page.get_by_role("link", name="download the file")).to_be_visible()
