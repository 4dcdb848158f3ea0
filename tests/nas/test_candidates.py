"""Which networks a front's refit trains: places spread evenly along the front."""

from __future__ import annotations

import pytest

from nas.candidates import spread


@pytest.mark.parametrize(
    ("n", "k", "places"),
    [
        (7, 3, [0, 3, 6]),  # both ends and the middle
        (10, 4, [0, 3, 6, 9]),
        (5, 2, [0, 4]),
        (6, 1, [0]),  # one: the smallest network
        (3, 5, [0, 1, 2]),  # more asked than the front holds: all of it
        (4, 4, [0, 1, 2, 3]),
    ],
)
def test_spread_takes_both_ends_and_evenly_between(n, k, places):
    assert spread(n, k) == places
