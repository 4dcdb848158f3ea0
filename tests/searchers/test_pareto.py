"""Non-dominated sorting and the crowding distance on fronts drawn by hand."""

from __future__ import annotations

import math

import pytest

from searchers.pareto import crowding, dominates, front_ranks, fronts, hypervolume_2d, ranked

# (error, params in thousands): minimise both.
POINTS = [
    (0.10, 200),  # 0: most accurate, largest
    (0.20, 100),  # 1: on the first front
    (0.40, 50),  # 2: smallest, on the first front
    (0.25, 150),  # 3: dominated by 1 only
    (0.30, 120),  # 4: dominated by 1 only
    (0.45, 160),  # 5: dominated by 1, 3 and 4: third front
    (0.10, 200),  # 6: the same as 0: neither dominates the other
]


def test_dominance_needs_no_worse_everywhere_and_better_somewhere():
    assert dominates((0.2, 100), (0.25, 150))
    assert not dominates((0.2, 100), (0.2, 100))  # equal points do not dominate
    assert not dominates((0.1, 200), (0.2, 100))  # a trade-off
    assert dominates((0.5, 100), (math.nan, 100))  # no score is the worst score


def test_fronts_peel_the_points_layer_by_layer():
    assert fronts(POINTS) == [[0, 1, 2, 6], [3, 4], [5]]
    assert front_ranks(POINTS) == [1, 1, 1, 2, 2, 3, 1]
    assert fronts([]) == []


def test_crowding_keeps_the_ends_and_spreads_the_middle():
    points = [(0.0, 10.0), (1.0, 9.0), (1.1, 8.9), (5.0, 5.0), (10.0, 0.0)]
    distance = crowding(points, [0, 1, 2, 3, 4])
    assert distance[0] == distance[4] == math.inf
    # Point 3 sits alone between 2 and 4; points 1 and 2 crowd each other.
    assert distance[3] > distance[1] and distance[3] > distance[2]
    assert distance[1] == (1.1 - 0.0) / 10 + (10.0 - 8.9) / 10
    assert crowding(points, [1, 3]) == {1: math.inf, 3: math.inf}


def test_ranked_goes_front_by_front_and_spreads_within_one():
    points = [(0.0, 10.0), (1.0, 9.0), (1.1, 8.9), (5.0, 5.0), (10.0, 0.0), (6.0, 6.0)]
    order = ranked(points)
    assert order[:2] == [0, 4]  # the ends of the first front
    assert order[2] == 3  # then the most isolated
    assert order[-1] == 5  # the dominated point last
    assert sorted(order) == list(range(len(points)))


def test_hypervolume_2d_is_the_area_the_front_dominates():
    # Three steps to the reference (1, 0): widths 0.2, 0.3, 0.3 at heights 0.5, 0.7, 0.9.
    front = [(0.2, -0.5), (0.5, -0.7), (0.8, -0.9)]
    expected = 0.3 * 0.5 + 0.3 * 0.7 + 0.2 * 0.9
    assert hypervolume_2d(front, (1.0, 0.0)) == pytest.approx(expected)
    # Dominated points and points beyond the reference add nothing; order does not matter.
    more = [(0.6, -0.6), (1.2, -1.0), (0.1, 0.3), *reversed(front)]
    assert hypervolume_2d(more, (1.0, 0.0)) == pytest.approx(expected)
    assert hypervolume_2d([], (1.0, 0.0)) == 0.0
