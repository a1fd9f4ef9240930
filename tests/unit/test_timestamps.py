"""iso() formats as datetime does, to the millisecond, including where rounding carries into the next second."""

import random
from datetime import UTC, datetime

import pytest

from service.domain.timestamps import iso


def by_datetime(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


EDGES = [0.0, 1.7e9, 1700000000.9999995, 1700000000.0000005, 1700000000.0015, -1.5, -0.0000004, 4102444799.999]


@pytest.mark.parametrize("epoch", EDGES)
def test_edges_match_datetime(epoch):
    assert iso(epoch) == by_datetime(epoch)


def test_random_instants_match_datetime():
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    epochs = [rng.uniform(-1e9, 4e9) for _ in range(20_000)] + [1.7e9 + rng.random() for _ in range(20_000)]
    assert [iso(e) for e in epochs] == [by_datetime(e) for e in epochs]
