"""Passwords in the browser: an invited member's first sign-in sets its own password; a member changes it."""

from __future__ import annotations

import uuid

from harness import needs_chromium, shot
from playwright.sync_api import expect

pytest_plugins = ["harness"]
pytestmark = needs_chromium

FIRST = "my own first passphrase"
SECOND = "my changed passphrase!"


def invite(page, demo_credentials) -> dict:
    """alice (the demo's admin) invites a new editor through the API, as the Admin screen does."""
    token = page.request.post(
        "/api/auth/token", data={"username": "alice", "password": demo_credentials["alice"]}
    ).json()["access_token"]
    answer = page.request.post(
        "/api/members",
        data={"username": f"newbie-{uuid.uuid4().hex[:6]}", "email": "newbie@example.com", "role": "editor"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status == 201, answer.text()
    return answer.json()


def test_an_invited_member_chooses_a_password_then_changes_it(page, page_watch, demo_credentials):
    page.goto("/api/health")
    invited = invite(page, demo_credentials)
    page_watch.allow(403, "/api/auth/token")  # the one-time password is refused on purpose
    page_watch.allow(401, "/api/auth/password")  # a wrong current password, below
    page.goto("/", wait_until="networkidle")
    page.get_by_label("User name").fill(invited["sign_in_name"])
    page.get_by_label("Password").fill(invited["password"])
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.get_by_label("New password")).to_be_focused()
    page.get_by_label("New password").fill("too short")
    page.get_by_label("Repeat it").fill("too short")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_label("New password")).to_be_focused()  # the browser's own minlength check stops it
    page.get_by_label("New password").fill(FIRST)
    page.get_by_label("Repeat it").fill(FIRST)
    page.keyboard.press("Enter")
    expect(page.locator("#my-role")).to_have_text("editor")
    shot(page, "first-sign-in-done")

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill(SECOND)
    page.get_by_label("Repeat it").fill(SECOND)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-status")).to_have_text("The current password is not right.")
    expect(page.get_by_text("Your session has ended")).to_be_hidden()  # a wrong password is not an ended session
    page.get_by_label("Current password").fill(FIRST)
    page.get_by_label("Current password").press("Enter")
    expect(page.locator("#password-status")).to_have_text("Your password is changed.")
    expect(page.get_by_text("Your session has ended")).to_be_hidden()
    page.get_by_role("link", name="Datasets").click()  # the new token works; the old one is void
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    expect(page.get_by_text("Your session has ended")).to_be_hidden()
    shot(page, "password-changed")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").fill(invited["sign_in_name"])
    page.get_by_label("Password").fill(SECOND)
    page.keyboard.press("Enter")
    expect(page.locator("#my-role")).to_have_text("editor")
