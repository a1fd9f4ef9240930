"""The workbench end to end in a real Chromium against a real `python -m service run`: sign in,
create a dataset, upload three PNGs (each progress bar reaches 100 %), bulk-label and label with
the keyboard (with an undo), filter and search, draw a box, compare the demo's two models and read
the leaderboard, the chart and the confusion matrices. The `page` fixture fails a test on any
console error or failed request; screenshots of each screen land in test-artifacts/browser/."""

from __future__ import annotations

import json
import re
import time
import uuid

from harness import needs_chromium, shot, sign_in
from PIL import Image
from playwright.sync_api import expect

pytest_plugins = ["harness"]
pytestmark = needs_chromium

# The labelling keys follow the class names: the first free letter of each.
COLOURS = {"red.png": ("red", "r"), "green.png": ("green", "g"), "blue.png": ("blue", "b")}
COMPARISON_TIMEOUT_MS = 180_000


def test_sign_in_upload_label_search_and_compare(page, demo_credentials, tmp_path):
    started = time.monotonic()
    sign_in(page, "alice", demo_credentials["alice"])
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    expect(page.locator("#who")).to_contain_text("tenant demo")
    shot(page, "datasets")

    name = f"shapes-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Label classes (comma-separated)").fill("red, green, blue")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()

    files = []
    for filename, (colour, _) in COLOURS.items():
        path = tmp_path / filename
        Image.new("RGB", (48, 32), colour).save(path)
        files.append(path)
    page.locator("#files").set_input_files([str(f) for f in files])
    for f in files:
        expect(page.get_by_role("progressbar", name=f"Upload of {f.name}")).to_have_attribute("value", "100")
    expect(page.locator(".upload-status.ok")).to_have_count(3)
    expect(page.locator(".cell")).to_have_count(3)
    shot(page, "uploaded")

    # Bulk: every item "red" from the grid, then each its own colour by keyboard.
    page.get_by_role("button", name="Select all shown").click()
    page.get_by_label("Label for the selection").select_option("red")
    page.get_by_role("button", name="Apply to 3 selected").click()
    expect(page.locator("#toasts")).to_contain_text("3 items labelled “red”")
    page.get_by_role("link", name="Label one by one").click()
    expect(page.locator("#position")).to_have_text("Nothing left to label here.")  # all are red now
    page.get_by_label("Unlabelled items only").uncheck()
    expect(page.locator("#position")).to_have_text("Item 1 of 3")
    for _ in COLOURS:
        filename = page.locator("#filename").inner_text()
        colour, key = COLOURS[filename]
        page.keyboard.press(key)
        expect(page.locator("#save")).to_have_text(f"Saved: {filename} is {colour}")
    page.keyboard.press("u")  # undo the last one: back to red, then label it again
    expect(page.locator("#save")).to_contain_text("is red")
    expect(page.locator("#current")).to_have_text("red")
    last = page.locator("#filename").inner_text()
    page.keyboard.press(COLOURS[last][1])
    expect(page.locator("#save")).to_have_text(f"Saved: {last} is {COLOURS[last][0]}")
    shot(page, "labeling")

    page.get_by_role("link", name=f"← {name}").click()
    page.locator("#filters select[name=label]").select_option("green")
    expect(page.locator(".cell")).to_have_count(1)
    expect(page.locator(".cell")).to_contain_text("green.png")
    page.locator("#filters select[name=label]").select_option("")
    page.get_by_label("Search").fill("blue")
    expect(page.locator(".cell")).to_have_count(1)
    expect(page.locator(".cell")).to_contain_text("blue")
    shot(page, "search")

    # A box drawn on the full image, saved with its version.
    page.locator(".cell a").first.click()
    image = page.locator("#image")
    expect(image).to_be_visible()
    box = image.bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="Save boxes").click()
    expect(page.locator("#box-state")).to_have_text("Saved")
    expect(page.locator("#box-list li")).to_have_count(1)
    shot(page, "item")

    page.get_by_role("link", name="Jobs").click()
    page.locator("#start select[name=dataset]").select_option(label="digits")
    page.get_by_label("digits-logistic-regression", exact=True).check()
    page.get_by_label("digits-random-forest", exact=True).check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#comparison-status")).to_have_text("succeeded", timeout=COMPARISON_TIMEOUT_MS)
    rows = page.locator("#leaderboard tbody tr")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_contain_text(re.compile(r"\d+\.\d+ %"))
    expect(page.get_by_role("img", name=re.compile("Accuracy and macro-F1 per model"))).to_be_visible()
    for model in ("digits-logistic-regression", "digits-random-forest"):
        expect(page.get_by_role("table", name=f"Confusion matrix of {model}")).to_be_visible()
    expect(page.locator(".gallery a").first).to_be_visible()
    shot(page, "comparison")
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.locator("#comparisons tbody tr").first).to_contain_text("succeeded")
    shot(page, "jobs")
    print(f"\nworkbench flow: {time.monotonic() - started:.1f} s")


def test_a_viewer_sees_no_upload_create_delete_or_start(page, demo_credentials):
    sign_in(page, "victor", demo_credentials["victor"])
    expect(page.locator("#my-role")).to_have_text("viewer")
    expect(page.get_by_role("link", name="digits")).to_be_visible()
    expect(page.get_by_role("button", name="Create dataset")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    expect(page.get_by_role("link", name="Admin")).to_be_hidden()
    page.get_by_role("link", name="digits").click()
    expect(page.locator(".cell").first).to_be_visible()
    expect(page.locator("#dropzone")).to_have_count(0)
    expect(page.get_by_role("button", name="Select all shown")).to_have_count(0)
    shot(page, "viewer-dataset")
    page.get_by_role("link", name="Models").click()
    expect(page.locator("table")).to_contain_text("digits-random-forest")
    expect(page.get_by_role("button", name="Upload and register")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    page.get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", name="Comparisons", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_have_count(0)


def test_a_labeler_labels_but_cannot_delete_or_upload(page, demo_credentials):
    sign_in(page, "bob", demo_credentials["bob"])
    expect(page.locator("#my-role")).to_have_text("labeler")
    expect(page.get_by_role("link", name="digits")).to_be_visible()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    page.get_by_role("link", name="digits").click()
    expect(page.get_by_role("button", name="Select all shown")).to_be_visible()
    expect(page.locator("#dropzone")).to_have_count(0)
    page.get_by_role("link", name="Models").click()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    shot(page, "labeler-models")


def test_an_ended_session_asks_to_sign_in_again(page, page_watch):
    page_watch.allow(401, "/api/me")
    page.goto("/api/health")
    session = {"token": "forged.token.value", "expiresAt": int(time.time() * 1000) + 3_600_000}
    page.evaluate("s => sessionStorage.setItem('edna.session', s)", json.dumps(session))
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.locator("#banner")).to_contain_text("This is not a sign-in token Edna can read")  # the API's words
    shot(page, "session-ended")


def test_the_keyboard_alone_signs_in(page, demo_credentials):
    page.goto("/")
    expect(page.get_by_label("User name")).to_be_focused()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()  # nothing to navigate before sign-in
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(demo_credentials["alice"])
    page.keyboard.press("Enter")
    expect(page.locator("#my-role")).to_have_text("admin")
    expect(page.locator("#view")).to_be_focused()  # a new screen takes the focus, so it is read out
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()  # and Tab goes on into it
    page.keyboard.type("typed-only")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="typed-only")).to_be_visible()


def test_an_admin_invites_a_member_and_reads_the_usage(page, demo_credentials):
    sign_in(page, "alice", demo_credentials["alice"])
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Members of demo")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("bob")
    expect(page.locator("table").first).not_to_contain_text("mallory")  # another tenant's admin
    expect(page.get_by_role("table", name="Usage")).to_contain_text("API requests")
    who = f"carol{uuid.uuid4().hex[:4]}"
    page.get_by_label("User name").fill(who)
    page.get_by_label("E-mail").fill(f"{who}@example.com")
    page.locator("#invite select[name=role]").select_option("labeler")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invited")).to_contain_text(f"Invited {who}. One-time password")
    expect(page.get_by_label(f"Role of {who}")).to_have_value("labeler")
    shot(page, "admin")


def test_an_admin_creates_an_application_whose_secret_signs_in_until_it_is_revoked(page, demo_credentials):
    sign_in(page, "alice", demo_credentials["alice"])
    page.get_by_role("link", name="Admin").click()
    name = f"nightly-{uuid.uuid4().hex[:4]}"
    form = page.locator("#new-application")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Create application").click()
    expect(page.locator("#application-secret")).to_contain_text("shown only once")
    client_id = page.locator("#new-client-id").inner_text()
    secret = page.locator("#new-client-secret").inner_text()
    shot(page, "applications")
    exchange = page.request.post("/api/auth/service-token", data={"client_id": client_id, "client_secret": secret})
    assert exchange.status == 200, exchange.text()
    token = exchange.json()["access_token"]
    me = page.request.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["roles"] == ["viewer"] and me["tenant"] == "demo"
    page.reload()
    table = page.get_by_role("table", name="Applications")
    expect(table).to_contain_text(name)
    expect(table).not_to_contain_text(secret)  # shown once, never listed
    page.once("dialog", lambda dialog: dialog.accept())
    table.locator(f"[data-name='{name}']").click()
    expect(table).not_to_contain_text(name)
    after = page.request.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert after.status == 401
