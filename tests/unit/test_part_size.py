"""Multipart part sizes: S3 allows at most 10,000 parts, each but the last at least the minimum."""

from __future__ import annotations

import math

import pytest

from service.domain.items import MAX_PARTS, part_size_for

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB

SIZES = [
    0,
    1,
    5 * MiB,
    64 * MiB + 1,
    5 * GiB,
    MAX_PARTS * 5 * MiB - 1,
    MAX_PARTS * 5 * MiB,
    MAX_PARTS * 5 * MiB + 1,
    MAX_PARTS * 16 * MiB,
    MAX_PARTS * 16 * MiB + 1,
    123_456_789_012,
    5 * TiB,  # the largest S3 object
    *(n * 7_777_777_777 for n in range(1, 40)),
]


@pytest.mark.parametrize("minimum", [5 * MiB, 16 * MiB, 64 * MiB])
def test_part_size_fits_and_is_the_smallest_whole_mib(minimum):
    for size in SIZES:
        part = part_size_for(size, minimum)

        assert part >= minimum, size
        assert part % MiB == 0, size
        assert math.ceil(size / part) <= MAX_PARTS, size
        if part > minimum:  # one MiB less would need too many parts
            assert math.ceil(size / (part - MiB)) > MAX_PARTS, size


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, 5 * MiB),
        (MAX_PARTS * 5 * MiB, 5 * MiB),
        (MAX_PARTS * 5 * MiB + 1, 6 * MiB),
        (5 * TiB, 525 * MiB),
    ],
)
def test_known_part_sizes(size, expected):
    assert part_size_for(size, 5 * MiB) == expected
