"""The labelling keys' rule is written twice, in static/lib/hotkeys.js (the page) and
service/domain/hotkeys.py (the dataset resource): run in Chromium, the page's gives the server's keys."""

from __future__ import annotations

import pytest
from harness import needs_chromium

from service.domain import hotkeys

pytest_plugins = ["harness"]
pytestmark = needs_chromium

CASES = [
    [str(d) for d in range(10)],
    ["red", "green", "blue"],
    ["cat", "car", "cab", "crow"],
    ["A", "a", "apple", "Banana"],
    ["1", "one", "two", "10"],
    ["é", "ß", "Ωmega", "日本"],
    ["no entry", " ", "-", "x-ray"],
    [f"class {n}" for n in range(40)],  # more classes than spare keys
]
CHOSEN = [({"red": "g"}, ["red", "green", "blue"]), ({"1": "x", "cat": "1"}, ["1", "cat", "cow", "x"])]


@pytest.fixture
def rule(page):
    page.goto("/api/health")  # the app's origin, without signing in
    return lambda name, *args: page.evaluate(
        "([name, args]) => import('/lib/hotkeys.js').then((m) => m[name](...args))", [name, list(args)]
    )


@pytest.mark.parametrize("classes", CASES, ids=lambda c: ",".join(c)[:30])
def test_default_keys_match_the_server(rule, classes):
    assert rule("defaults", classes) == hotkeys.defaults(classes)


@pytest.mark.parametrize(("chosen", "classes"), CHOSEN)
def test_chosen_keys_complete_with_defaults_as_on_the_server(rule, chosen, classes):
    assert rule("effective", classes, chosen) == hotkeys.effective(classes, chosen)
