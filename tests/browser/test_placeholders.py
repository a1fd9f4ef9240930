"""An item without a thumbnail says why on its tile and its page (the API's preview_note), never a blank."""

from __future__ import annotations

import uuid

from harness import needs_chromium, shot, sign_in
from PIL import Image
from playwright.sync_api import expect

from service.bootstrap import build_adapters
from service.client import EdnaClient
from service.domain.imports import import_source, make_previews
from service.edna import Edna
from service.settings import Config

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


def test_imported_images_fill_in_their_placeholders(page, edna_server, demo_credentials, tmp_path):
    """`import-prefix` lists the items before the thumbnail worker gets to them: the open grid shows
    "thumbnail on its way" tiles, which fill in without a reload once the thumbnails exist."""
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    dataset = client.call("POST", "/api/datasets", json={"name": f"imported-{uuid.uuid4().hex[:6]}"})
    for n, color in enumerate(["red", "teal", "gold"]):
        Image.new("RGB", (40 + n, 30), color).save(tmp_path / f"photo-{n}.png")
    # What the command does, in two steps the test can watch between: register, then make the previews.
    config = Config.from_env(data_dir=edna_server.data_dir)
    state = Edna.build(config, build_adapters(config))
    try:
        totals = import_source(state.indexer, "demo", dataset["id"], str(tmp_path))  # alice's tenant
        assert totals["imported"] == 3
        sign_in(page, "alice", demo_credentials["alice"])
        page.goto(f"/#/datasets/{dataset['id']}")
        expect(page.locator(".cell .placeholder")).to_have_count(3)
        expect(page.locator(".cell .placeholder").first).to_have_text("thumbnail on its way")

        make_previews(state.indexer, totals["images"], 1, lambda n: None)

        expect(page.locator(".cell img")).to_have_count(3, timeout=15_000)
        expect(page.locator(".cell .placeholder")).to_have_count(0)
        shot(page, "filled-in")
    finally:
        state.close()
