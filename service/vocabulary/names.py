"""Validation of every name a caller chooses that ends up in a storage key or a tag."""

from __future__ import annotations

import re
import unicodedata

from service.vocabulary.errors import BadRequest

# Matched with fullmatch: `$` alone would let a trailing newline through.
TENANT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")
_MIME_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
CONTENT_TYPE_RE = re.compile(rf"{_MIME_NAME}/{_MIME_NAME}")
# S3 tag values: Unicode letters, digits, white space and + - = . _ : / @
TAG_VALUE_RE = re.compile(r"[\w\s+\-=.:/@]*")

MAX_FILENAME_BYTES = 255
MAX_DATASET_NAME = 128
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def _has_control(value: str) -> bool:
    # Control, format (bidi overrides, zero-width), surrogate, private and unassigned code points, and the
    # line and paragraph separators (U+2028, U+2029), which break a line in exports, logs and editors.
    if value.isascii():  # of ASCII, only the control characters (category Cc) are not printable
        return not value.isprintable()
    return any(unicodedata.category(ch) in ("Zl", "Zp") or unicodedata.category(ch).startswith("C") for ch in value)


def filename(value: str) -> str:
    """A single path segment: NFC-normalised, no separators, no control characters, <= 255 bytes."""
    name = unicodedata.normalize("NFC", value)
    if not name.strip():
        raise BadRequest("filename must not be empty")
    if _has_control(name):  # before encoding: a lone surrogate cannot be encoded
        raise BadRequest("filename must not contain control or invisible characters")
    if len(name.encode()) > MAX_FILENAME_BYTES:
        raise BadRequest(f"filename is longer than {MAX_FILENAME_BYTES} bytes")
    if name in {".", ".."} or "/" in name or "\\" in name:
        raise BadRequest("filename must be a plain file name, without '/', '\\' or '..'")
    if name != name.strip():
        raise BadRequest("filename must not start or end with white space")
    return name


def dataset_name(value: str) -> str:
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise BadRequest("name must not be empty")
    if len(name) > MAX_DATASET_NAME:
        raise BadRequest(f"name is longer than {MAX_DATASET_NAME} characters")
    if _has_control(name):
        raise BadRequest("name must not contain control or invisible characters")
    return name


def content_type(value: str) -> str:
    ctype = value.strip().lower()
    if not CONTENT_TYPE_RE.fullmatch(ctype):
        raise BadRequest(f"content_type {value!r} is not a media type such as image/png")
    return ctype


def tag_value(value: str, what: str = "tag value") -> str:
    """A value S3 accepts as an object tag: the label and user tags must survive a round trip."""
    if len(value) > MAX_TAG_VALUE:
        raise BadRequest(f"{what} is longer than {MAX_TAG_VALUE} characters")
    if not TAG_VALUE_RE.fullmatch(value) or _has_control(value):
        raise BadRequest(f"{what} {value!r} may hold only letters, digits, spaces and + - = . _ : / @")
    return value


def tenant(value: str) -> str:
    if not TENANT_RE.fullmatch(value):
        raise BadRequest(f"tenant {value!r} must be 1-63 of a-z, 0-9, '-', '_'")
    return value


def username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise BadRequest(f"username {value!r} must be 1-128 of letters, digits and _ . @ + -")
    return value
