"""Sessions across tabs, the audit view, controls a role cannot use, empty states and token errors,
in a real Chromium against the demo (alice admin, victor viewer of tenant demo; mallory admin of acme)."""

from __future__ import annotations

import json
import uuid

from harness import needs_chromium, shot, sign_in
from playwright.sync_api import expect

from service.client import EdnaClient

pytest_plugins = ["harness"]
pytestmark = needs_chromium


def digits_id(edna_server, demo_credentials) -> str:
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    return next(d["id"] for d in client.pages("/api/datasets") if d["name"] == "digits")


def test_a_link_opened_in_a_new_tab_keeps_the_session_and_sign_out_ends_every_tab(
    page, browser, edna_server, demo_credentials
):
    sign_in(page, "alice", demo_credentials["alice"])
    dataset_id = digits_id(edna_server, demo_credentials)
    # A new tab of the same browser (sessionStorage is not copied to it): it asks the open tab.
    second = page.context.new_page()
    second.goto(f"/#/datasets/{dataset_id}")
    expect(second.locator("#my-role")).to_have_text("admin")
    expect(second.get_by_label("User name")).to_have_count(0)
    assert second.evaluate("() => localStorage.length") == 0  # nothing kept beyond the tabs
    # Another browser (a fresh context: no tab of it is signed in) must sign in.
    other = browser.new_context(base_url=edna_server.base_url).new_page()
    other.goto(f"/#/datasets/{dataset_id}")
    expect(other.get_by_label("User name")).to_be_visible()
    other.context.close()
    # Signing out in one tab signs out the other.
    second.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("User name")).to_be_visible()
    second.close()


def test_the_audit_view_filters_and_pages(page, edna_server, demo_credentials):
    client = EdnaClient(edna_server.base_url)
    client.login("alice", demo_credentials["alice"])
    for n in range(3):
        client.call("POST", "/api/datasets", json={"name": f"audited-{n}-{uuid.uuid4().hex[:6]}"})
    sign_in(page, "alice", demo_credentials["alice"])
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Audit trail: who changed what, and when").click()
    expect(page.locator("#audit-rows tr").first).to_be_visible()
    page.get_by_label("Action").fill("POST /api/datasets")
    page.get_by_label("Person").fill("alice")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#audit-rows tr").first).to_contain_text("POST /api/datasets")
    rows = page.locator("#audit-rows tr")
    assert rows.count() >= 3
    assert all("alice" in rows.nth(i).inner_text() for i in range(rows.count()))
    page.get_by_label("Person").fill("nobody-at-all")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#audit-state")).to_contain_text("No entries match")
    shot(page, "audit")


def test_a_viewer_is_offered_no_control_of_a_higher_role(page, edna_server, demo_credentials):
    dataset_id = digits_id(edna_server, demo_credentials)
    sign_in(page, "victor", demo_credentials["victor"])
    page.goto(f"/#/datasets/{dataset_id}")
    expect(page.locator(".cell").first).to_be_visible()
    for absent in ("#label-link", "#review-link", "#files", "#bulk", "#classes-holder", "[data-select]", ".key-input"):
        expect(page.locator(absent)).to_have_count(0)
    page.goto(f"/#/datasets/{dataset_id}/label")
    expect(page.locator("#view")).to_contain_text("Your role (viewer) can look at items, not label them")
    expect(page.locator("button[disabled]")).to_have_count(0)
    page.goto("/#/jobs")
    expect(page.locator("#start, #start-empty")).to_have_count(0)
    page.goto("/#/models")
    expect(page.locator("[data-delete]")).to_have_count(0)


def test_a_tenant_without_datasets_is_told_what_to_do_first(page, demo_credentials):
    sign_in(page, "mallory", demo_credentials["mallory"])  # admin of acme, which the demo leaves empty
    page.goto("/#/jobs")
    expect(page.locator("#start-empty")).to_contain_text("create a dataset and upload images")
    expect(page.locator("#start")).to_have_count(0)
    page.goto("/#/datasets")
    expect(page.locator("#view")).to_contain_text("No datasets yet")


def test_an_ended_session_saves_nothing_and_a_tampered_token_reads_in_plain_words(page, page_watch, demo_credentials):
    sign_in(page, "bob", demo_credentials["bob"])
    # The page's clock says the session ended (the server would still accept it for a few seconds):
    # nothing is sent, and the banner and the outcome agree.
    page.evaluate(
        """() => { const s = JSON.parse(sessionStorage.getItem("edna.session"));
                   s.expiresAt = Date.now() + 6000; sessionStorage.setItem("edna.session", JSON.stringify(s)); }"""
    )
    page.reload()
    expect(page.locator("#my-role")).to_have_text("labeler")
    expect(page.locator("#banner")).to_contain_text("Your session has ended", timeout=10_000)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/api/" in r.url else None)
    page.goto("/#/models")
    expect(page.locator("#view")).not_to_contain_text("Models")  # the view's data was never asked for
    assert sent == []
    # A token altered in storage: the server refuses it, and the page says so in words.
    page_watch.allow(401, "/api/me")
    page.evaluate(
        """() => { const s = JSON.parse(sessionStorage.getItem("edna.session"));
                   const [h, p, sig] = s.token.split(".");
                   s.token = [h, p, sig.slice(0, -4) + (sig.endsWith("AAAA") ? "BBBB" : "AAAA")].join(".");
                   s.expiresAt = Date.now() + 600000; sessionStorage.setItem("edna.session", JSON.stringify(s)); }"""
    )
    page.reload()
    expect(page.get_by_label("User name")).to_be_visible()
    message = page.locator("#signin-error").inner_text()
    assert "not valid" in message and "Error" not in message, json.dumps(message)
