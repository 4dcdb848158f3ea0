"""The Pareto front of accuracy against size: the trials no smaller network beats, and the
step line the charts draw through them."""

from __future__ import annotations

import pandas as pd

from experiment.results import Experiment
from reports.ranking import metric_of, ranking, space_of


def pareto(experiment: Experiment) -> pd.DataFrame:
    """Trials by parameters and the value ``ranking`` ranks them by (the metric at the highest
    rung each reached), so the front and the refit's picks speak of the same numbers;
    ``on_front`` marks the non-dominated ones, ``rung`` says at which epoch each was scored."""
    metric = f"{metric_of(experiment)}_at_rung"
    ranked = ranking(experiment)
    if ranked.empty or "params" not in ranked:
        return pd.DataFrame(columns=["Name", "params", metric, "on_front", "rung"])
    table = ranked[["Name", "params", "at_rung", "rung"]].rename(columns={"at_rung": metric})
    table = table.dropna().astype({"params": int, metric: float, "rung": int})
    space = space_of(experiment)
    sign = -1.0 if space and space.mode == "min" else 1.0  # higher is better, or lower
    table = table.sort_values(["params", metric], ascending=[True, sign < 0])
    table = table.reset_index(drop=True)
    best_so_far, on_front = float("-inf"), []
    for value in table[metric]:  # fewer params first: on the front if it beats all smaller ones
        on_front.append(sign * value > best_so_far)
        best_so_far = max(best_so_far, sign * value)
    return table.assign(on_front=on_front)[["Name", "params", metric, "on_front", "rung"]]


def front_line(front: pd.DataFrame) -> tuple[list[float], list[float]]:
    """The vertices of the Pareto front's step line through ``pareto``'s front: each point holds
    until a larger network does better, and the last one up to the largest network tried."""
    best = front[front["on_front"]]
    if best.empty:
        return [], []
    points: list[tuple[float, float]] = []
    for x, y in zip(best["params"], best[front.columns[2]], strict=True):
        if points:
            points.append((float(x), points[-1][1]))
        points.append((float(x), float(y)))
    points.append((float(front["params"].max()), points[-1][1]))
    xs, ys = zip(*points, strict=True)
    return list(xs), list(ys)
