"""Opaque pagination cursors: the last sort key of a page, base64url-encoded JSON."""

import base64
import binascii
import json

from service.vocabulary.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_CURSOR = 1024  # ours are short; anything long is garbage, refused before decoding


def encode(position: str) -> str:
    raw = json.dumps({"after": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None) -> str | None:
    """The position a cursor points after; a malformed cursor is the caller's error (400)."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR:
        raise BadRequest("cursor is malformed; pass next_cursor from the previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        raise BadRequest("cursor is malformed; pass next_cursor from the previous page") from None
    if not isinstance(after, str):
        raise BadRequest("cursor is malformed; pass next_cursor from the previous page")
    return after
