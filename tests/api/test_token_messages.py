"""Every refused token is explained in plain words: what is wrong and what to do, never a library's class name."""

from __future__ import annotations

import re

import pytest
import requests

from tests.api.test_security import Forger

# A class name such as BadSignatureError or DecodeError, which a person signing in cannot act on.
CLASS_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b|Error\b|Exception\b")


@pytest.fixture
def refusals(stack) -> dict[str, str]:
    bad = Forger(stack).all_bad()
    messages = {}
    for name, token in bad.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = requests.get(stack.base_url + "/api/datasets", headers=headers, timeout=10)
        assert resp.status_code == 401, (name, resp.text)
        messages[name] = resp.json()["message"]
    return messages


def test_no_refusal_names_a_library_class(refusals):
    for name, message in refusals.items():
        assert not CLASS_NAME.search(message), (name, message)
        assert message[0].isupper() and message.rstrip().endswith((".", ")")), (name, message)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("expired", "Your session has expired: sign in again."),
        ("bad_signature", "altered or not issued here"),
        ("tampered_payload", "altered or not issued here"),
        ("alg_none", "sign in again"),
        ("garbage", "not a sign-in token Edna can read"),
        ("none", "Sign in first"),
        ("wrong_issuer", "another sign-in service"),
    ],
)
def test_each_refusal_says_what_to_do(refusals, case, says):
    assert says.lower() in refusals[case].lower(), refusals[case]
