"""The web app loads in a real Chromium: a title, no console errors, and the API behind it answers."""

from __future__ import annotations

import re

from harness import needs_chromium, shot
from playwright.sync_api import expect

pytest_plugins = ["harness"]
pytestmark = needs_chromium


def test_app_loads_without_errors(page):
    page.goto("/", wait_until="networkidle")
    expect(page).to_have_title(re.compile("Edna"))
    assert shot(page, "home").stat().st_size > 0
    health = page.request.get("/api/health")
    assert health.status == 200, health.text()


def test_demo_users_sign_in_and_a_declared_401_is_no_error(page, page_watch, demo_credentials):
    assert set(demo_credentials) == {"alice", "bob", "victor", "mallory"}
    page.goto("/api/health")  # the app's origin without depending on the app's markup
    page_watch.allow(401, "/api/auth/token")
    sign_in = """([username, password]) => fetch("/api/auth/token", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({username, password}),
    }).then((response) => response.status)"""
    assert page.evaluate(sign_in, ["alice", demo_credentials["alice"]]) == 200
    assert page.evaluate(sign_in, ["alice", "not-her-password"]) == 401
