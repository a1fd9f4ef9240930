"""Identifiers that sort by creation time, so listings and cursors follow insertion order."""

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(ms: int | None = None) -> str:
    """26 characters: 48 bits of milliseconds (`ms`, default now), then 80 random bits (a lower-case ULID)."""
    value = ((int(time.time() * 1000) if ms is None else ms) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def is_id(value: str) -> bool:
    return len(value) == 26 and all(c in _ALPHABET for c in value)
