"""Engine fixtures: a seeded in-memory storage."""

from __future__ import annotations

import pytest

from tests.engine.digits import ITEMS, MODEL, MemoryStorage, digit_items, digits_model, seed


@pytest.fixture
def storage() -> MemoryStorage:
    """120 digits and the logistic-regression model."""
    store = MemoryStorage()
    seed(store, digit_items(120, ITEMS), digits_model("logistic"), MODEL)
    return store
