"""Names callers choose that end up in storage keys or tags."""

from __future__ import annotations

import pytest

from service.vocabulary import names
from service.vocabulary.errors import BadRequest


@pytest.mark.parametrize(
    "value",
    [
        "cat.png",
        "a" * 255,
        "é" * 127 + "a",  # 255 bytes of UTF-8
        "日本語 ファイル (1).jpg",
        "Ünïcødé 🙂.webp",
        "...hidden",
        "a\u00a0b.png",  # a no-break space inside is a space like any other
        "name.with.dots.tar.gz",
    ],
)
def test_filename_accepts(value):
    assert names.filename(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "a" * 256,
        "é" * 128,  # 128 characters, 256 bytes
        ".",
        "..",
        "../x",
        "a/b",
        "/abs",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a\tb",
        "cat\u202egnp.exe",  # right-to-left override disguises the extension
        "a\u200bb",  # zero-width space
        " leading.png",
        "trailing.png ",
        "\u00a0nbsp.png",
    ],
)
def test_filename_refuses(value):
    with pytest.raises(BadRequest):
        names.filename(value)


def test_filename_is_nfc_normalised():
    assert names.filename("cafe\u0301.png") == "caf\u00e9.png"


def test_filename_byte_limit_counts_the_normalised_form():
    # 255 bytes only once "e" + combining accent (3 bytes) becomes "é" (2 bytes).
    decomposed = "e\u0301" * 127 + "a"
    assert len(decomposed.encode()) > 255
    assert names.filename(decomposed) == "é" * 127 + "a"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("image/png", "image/png"),
        (" IMAGE/PNG ", "image/png"),
        ("image/svg+xml", "image/svg+xml"),
        ("application/octet-stream", "application/octet-stream"),
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ],
)
def test_content_type_accepts(value, expected):
    assert names.content_type(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "image", "image/", "/png", "image/png/x", "image png", "text/html\r\nX-Evil: 1", "ïmage/png", "*/*"],
)
def test_content_type_refuses(value):
    with pytest.raises(BadRequest):
        names.content_type(value)


@pytest.mark.parametrize(
    "value",
    ["", "cat", "Golden Retriever", "a b+c-d=e.f_g:h/i@j", "猫", "Straße 2", "x" * 256],
)
def test_tag_value_accepts(value):
    assert names.tag_value(value) == value


@pytest.mark.parametrize(
    "value",
    ["x" * 257, "a,b", "a;b", "<b>", "50%", "a\nb", "a\x00b", "a\u202eb", 'quote"d', "a&b"],
)
def test_tag_value_refuses(value):
    with pytest.raises(BadRequest):
        names.tag_value(value)


def test_tag_value_error_names_what_was_checked():
    with pytest.raises(BadRequest, match=r"^label "):
        names.tag_value("a,b", what="label")


@pytest.mark.parametrize("value", ["demo", "a", "0", "acme-corp_1", "a" * 63])
def test_tenant_accepts(value):
    assert names.tenant(value) == value


@pytest.mark.parametrize("value", ["", "Demo", "-demo", "_demo", "a" * 64, "a/b", "a.b", "a b", "../x", "dé", "demo\n"])
def test_tenant_refuses(value):
    with pytest.raises(BadRequest):
        names.tenant(value)


@pytest.mark.parametrize(("check", "value"), [(names.username, "alice"), (names.tag_value, "cat")])
def test_a_trailing_newline_is_refused(check, value):
    with pytest.raises(BadRequest):
        check(value + "\n")
