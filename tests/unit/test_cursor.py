"""Opaque pagination cursors."""

from __future__ import annotations

import base64

import pytest

from service.domain import cursor
from service.vocabulary.errors import BadRequest


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("position", ["", "a", "01hzz", "tenants/t/datasets/d/", "日本 ünï?&=/+", "x" * 500])
def test_round_trip(position):
    encoded = cursor.encode(position)

    assert cursor.decode(encoded) == position
    assert encoded.isascii()
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded


@pytest.mark.parametrize("value", [None, ""])
def test_no_cursor_means_from_the_start(value):
    assert cursor.decode(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "a",  # impossible base64 length
        "!!!!",
        "é",
        b64(b"not json"),
        b64(b"\xff\xfe"),
        b64(b"[1, 2]"),
        b64(b'"after"'),
        b64(b"null"),
        b64(b"{}"),
        b64(b'{"before": "x"}'),
        b64(b'{"after": 5}'),
        b64(b'{"after": null}'),
        b64(b'{"after": ["x"]}'),
        b64(b"[" * 3000),  # deep nesting: RecursionError inside json, never a 500
        "A" * 2000,
    ],
)
def test_malformed_cursor_is_bad_request(value):
    with pytest.raises(BadRequest, match="cursor"):
        cursor.decode(value)
