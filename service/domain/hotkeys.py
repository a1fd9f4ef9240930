"""Labelling hotkeys: the key that labels an item with each class of a dataset.

A class named with one key character gets that very key (on `digits`, `3` labels "3"); every
other class gets the first free letter or digit of its name, then any free one. A dataset may
choose its own keys; the rest keep their defaults. static/lib/hotkeys.js applies the same rule.
"""

from __future__ import annotations

from service.vocabulary.errors import BadRequest

SPARE = "1234567890abcdefghijklmnopqrstuvwxyz"


def defaults(classes: list[str], taken: set[str] | None = None) -> dict[str, str]:
    """class -> key for `classes`, avoiding the keys in `taken`; classes beyond the spare keys get none."""
    used = set(taken or ())
    keys: dict[str, str] = {}
    for name in classes:  # one-character names first: their key is never given to another class
        if len(name) == 1 and name.isprintable() and not name.isspace() and name.lower() not in used:
            keys[name] = name.lower()
            used.add(name.lower())
    for name in classes:
        if name in keys:
            continue
        free = next((c for c in [*name.lower(), *SPARE] if c in SPARE and c not in used), None)
        if free:
            keys[name] = free
            used.add(free)
    return keys


def effective(classes: list[str], chosen: dict[str, str]) -> dict[str, str]:
    """The dataset's chosen keys for its current classes, defaults for the others, in class order."""
    kept = {name: key for name, key in chosen.items() if name in classes}
    filled = defaults([c for c in classes if c not in kept], set(kept.values()))
    return {name: kept.get(name) or filled[name] for name in classes if name in kept or name in filled}


def validate(classes: list[str], chosen: dict[str, str]) -> dict[str, str]:
    """`chosen` if every class is the dataset's and every key one distinct printable character."""
    for name, key in chosen.items():
        if name not in classes:
            raise BadRequest(f"hotkey for {name!r}: not one of the dataset's classes")
        if not isinstance(key, str) or len(key) != 1 or not key.isprintable() or key.isspace():
            raise BadRequest(f"hotkey for {name!r} must be one printable character, not {key!r}")
    lowered = [key.lower() for key in chosen.values()]
    if len(set(lowered)) != len(lowered):
        raise BadRequest("two classes cannot share a hotkey")
    return {name: key.lower() for name, key in chosen.items()}
