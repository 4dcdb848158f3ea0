"""Non-dominated sorting and the crowding distance (NSGA-II, Deb et al. 2002), written once for
the multi-objective rung rule, the reports and the refit.

Every objective is *minimised* here: a caller turns a metric to maximise into its negative. A
point dominates another when it is no worse in every objective and better in one. A value that
is not a number (a trial with no score) counts as the worst possible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]


def _worst_if_nan(point: Point) -> tuple[float, ...]:
    return tuple(math.inf if math.isnan(v) else v for v in point)


def dominates(a: Point, b: Point) -> bool:
    """Whether ``a`` dominates ``b`` (all objectives minimised)."""
    a, b = _worst_if_nan(a), _worst_if_nan(b)
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def fronts(points: Sequence[Point]) -> list[list[int]]:
    """The indices of ``points`` by non-dominated front: the first front is dominated by no
    point, the second only by points of the first, and so on; each front in index order."""
    dominated_by = [0] * len(points)  # how many points dominate point i
    dominating: list[list[int]] = [[] for _ in points]  # the points that point i dominates
    for i, a in enumerate(points):
        for j in range(i + 1, len(points)):
            if dominates(a, points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], a):
                dominating[j].append(i)
                dominated_by[i] += 1
    found, current = [], [i for i, n in enumerate(dominated_by) if n == 0]
    while current:
        found.append(current)
        following = []
        for i in current:
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        current = sorted(following)
    return found


def crowding(points: Sequence[Point], front: Sequence[int]) -> dict[int, float]:
    """The crowding distance of each point of ``front`` (indices into ``points``): per objective,
    the gap between its two neighbours along the front over the front's range, summed; the
    extremes of every objective get infinity, so a front's ends are always kept."""
    if len(front) <= 2:
        return {i: math.inf for i in front}
    values = {i: _worst_if_nan(points[i]) for i in front}
    distance = {i: 0.0 for i in front}
    for k in range(len(values[front[0]])):
        ordered = sorted(front, key=lambda i: (values[i][k], i))
        low, high = values[ordered[0]][k], values[ordered[-1]][k]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if not math.isfinite(high - low) or high == low:
            continue
        for before, i, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            distance[i] += (values[after][k] - values[before][k]) / (high - low)
    return distance


def ranked(points: Sequence[Point]) -> list[int]:
    """The indices of ``points``, best first: by front, then within a front by crowding
    distance (the most isolated first, so that keeping the first n spreads along the front),
    then by the first objective (the metric, for this product's callers: of a front's two ends
    the more accurate first), then by index (the earlier trial first)."""
    order = []
    for front in fronts(points):
        distance = crowding(points, front)
        first = {i: _worst_if_nan(points[i])[0] for i in front}
        order += sorted(front, key=lambda i: (-distance[i], first[i], i))
    return order


def front_ranks(points: Sequence[Point]) -> list[int]:
    """Each point's front, counted from 1 (1: non-dominated)."""
    rank = [0] * len(points)
    for number, front in enumerate(fronts(points), start=1):
        for i in front:
            rank[i] = number
    return rank


def hypervolume_2d(points: Sequence[Point], reference: Point) -> float:
    """The area that 2-D ``points`` dominate up to ``reference`` (both objectives minimised;
    points beyond the reference in either objective add nothing)."""
    inside = sorted((x, y) for x, y in points if x < reference[0] and y < reference[1])
    area, best = 0.0, reference[1]
    ends = [x for x, _ in inside[1:]] + [reference[0]]  # each point holds until the next
    for (x, y), after in zip(inside, ends[: len(inside)], strict=True):
        best = min(best, y)
        area += (after - x) * (reference[1] - best)
    return area
