"""Identifiers that sort by creation time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from service.vocabulary import ids

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def id_at(monkeypatch, seconds: float) -> str:
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=lambda: seconds))
    return ids.new_id()


def test_ids_sort_by_creation_time(monkeypatch):
    # Milliseconds that cross digit boundaries of the base32 encoding, from 1970 to the 48-bit limit.
    times = [0.0, 0.001, 0.031, 0.032, 1.0, 1_000.0, 1_700_000_000.0, 1_700_000_000.001, 2**47 / 1000, 2**38]

    generated = [id_at(monkeypatch, t) for t in times]

    assert sorted(generated) == generated
    assert len(set(generated)) == len(generated)
    assert all(ids.is_id(i) and len(i) == 26 for i in generated)


def test_time_prefix_encodes_milliseconds(monkeypatch):
    first = id_at(monkeypatch, 1_700_000_000.123)
    second = id_at(monkeypatch, 1_700_000_000.123)

    assert first != second  # the random tail differs within one millisecond
    assert first[:10] == second[:10]
    millis = 0
    for char in first[:10]:  # 10 characters = 50 bits, the 48 of the timestamp on top
        millis = millis * 32 + CROCKFORD.index(char)
    assert millis == 1_700_000_000_123


def test_many_ids_are_unique():
    generated = {ids.new_id() for _ in range(2000)}
    assert len(generated) == 2000


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0" * 25,
        "0" * 27,
        "01HZZZZZZZZZZZZZZZZZZZZZZZ",  # upper case
        "0" * 25 + "i",  # Crockford base32 has no i, l, o, u
        "0" * 25 + "l",
        "0" * 25 + "o",
        "0" * 25 + "u",
        "0" * 25 + "-",
        "../" + "0" * 23,
    ],
)
def test_is_id_refuses(value):
    assert not ids.is_id(value)


def test_is_id_accepts():
    assert ids.is_id(ids.new_id())
    assert ids.is_id("0123456789abcdefghjkmnpqrs")


def test_every_digit_encodes_the_value(monkeypatch):
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=lambda: 1_700_000_000.123))
    monkeypatch.setattr(ids, "_random80", lambda: (1 << 80) - 12345)
    value = 0
    for char in ids.new_id():
        value = value * 32 + CROCKFORD.index(char)
    assert value == (1_700_000_000_123 << 80) | ((1 << 80) - 12345)


def test_a_forked_child_draws_its_own_random_tails():
    import os

    ids.new_id()  # the parent's pool holds tails now
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, ids.new_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 26)[10:] != ids.new_id()[10:].encode()
