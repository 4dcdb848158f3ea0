"""The Pareto front of accuracy against size: the trials no smaller network beats (ranked by
``searchers.pareto``'s non-dominated sorting), the step line the charts draw through them, and,
for a Pareto search, the answer it gives in a few sentences (``front_answer``)."""

from __future__ import annotations

import pandas as pd

from experiment.record import ran_with
from experiment.results import Experiment
from reports.ranking import metric_of, n_epochs, ranking, space_of
from searchers.feasible import objective_names
from searchers.pareto import front_ranks, hypervolume_2d


def pareto(experiment: Experiment) -> pd.DataFrame:
    """Trials by parameters and the value ``ranking`` ranks them by (the metric at the highest
    rung each reached), so the front and the refit's picks speak of the same numbers;
    ``on_front`` marks the non-dominated ones, ``rung`` says at which epoch each was scored."""
    metric = f"{metric_of(experiment)}_at_rung"
    ranked = ranking(experiment)
    if ranked.empty or "params" not in ranked:
        return pd.DataFrame(columns=["Name", "params", metric, "on_front", "rank", "rung"])
    table = ranked[["Name", "params", "at_rung", "rung"]].rename(columns={"at_rung": metric})
    table = table.dropna().astype({"params": int, metric: float, "rung": int})
    space = space_of(experiment)
    sign = -1.0 if space and space.mode == "min" else 1.0  # higher is better, or lower
    table = table.sort_values(["params", metric], ascending=[True, sign < 0])
    table = table.reset_index(drop=True)
    # rank: the trial's non-dominated front, as a Pareto search's rungs rank; on the front: 1
    rank = front_ranks(
        [(-sign * v, p) for v, p in zip(table[metric], table["params"], strict=True)]
    )
    table = table.assign(on_front=[r == 1 for r in rank], rank=rank)
    return table[["Name", "params", metric, "on_front", "rank", "rung"]]


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


def searched_sizes(experiment: Experiment) -> tuple[str, ...]:
    """The size objectives the experiment's search minimised (none: one objective)."""
    return tuple(objective_names(ran_with(experiment.run).get("objectives"))[1:])


WITHIN = 1.0  # points of the metric: "as good as the seed preset" in a front's answer


def hypervolume(front: pd.DataFrame, budget: int | None = None) -> float:
    """The area the front dominates with the metric (higher is better) against parameters as a
    share of ``budget`` (the space's parameter budget; None: the largest network tried), from
    the reference point (0 parameters short of the budget, metric 0): 1.0 would be a network of
    no parameters scoring 1. One budget for two searches of a space (the same --max-params)
    makes them comparable."""
    metric, budget = front.columns[2], budget or float(front["params"].max())
    on = front[front["on_front"]]
    points = [(p / budget, -float(v)) for p, v in zip(on["params"], on[metric], strict=True)]
    return hypervolume_2d(points, (1.0, 0.0))


def budget_of(experiment: Experiment) -> int | None:
    """The parameter budget the search ran under (``--max-params`` or the space's rule)."""
    space = space_of(experiment)
    return None if space is None else space.rules.params_below


def beside_the_preset(
    front: pd.DataFrame, seed: pd.Series | None
) -> tuple[pd.Series, pd.DataFrame] | None:
    """The seed preset's row of ``pareto``'s table and the other trials scored at its epoch,
    compared alike (None where the seed preset has no score)."""
    if seed is None or seed["Name"] not in set(front["Name"]):
        return None
    preset = front[front["Name"] == seed["Name"]].iloc[0]
    return preset, front[(front["rung"] == preset["rung"]) & (front["Name"] != preset["Name"])]


def smallest_within(preset: pd.Series, alike: pd.DataFrame) -> pd.Series | None:
    """The smallest network of ``alike`` within ``WITHIN`` points of the seed preset and smaller
    than it (on the front: nothing smaller does as well), or None."""
    metric = alike.columns[2]
    gap = (alike[metric] - preset[metric]) * 100
    near = alike[(gap >= -WITHIN) & (alike["params"] < preset["params"])]
    return None if near.empty else near.loc[near["params"].idxmin()]


def front_answer(
    front: pd.DataFrame,
    seed: pd.Series | None,
    budget: int | None = None,
    macs: dict[str, int] | None = None,
) -> list[str]:
    """A Pareto search's answer: the front, the smallest network within ``WITHIN`` points of
    the seed preset and the networks that dominate it (both among the trials scored at the seed
    preset's epoch, so that all are compared alike), and the front's hypervolume (``budget``:
    the parameter budget, else the largest network tried); then a line per network on the
    front, smallest first: its size against the seed preset's, the metric, its MACs (``macs``:
    trial name -> MACs)."""
    metric = front.columns[2]
    on = front[front["on_front"]]
    if on.empty:
        return []
    name = metric.removesuffix("_at_rung")  # scored at the highest rung each reached
    lines = [
        f"The front: {len(on)} of {len(front)} networks no smaller one beats, "
        f"{int(on['params'].min()):,} to {int(on['params'].max()):,} params, {name} "
        f"{on[metric].min():.4f} to {on[metric].max():.4f} (each at the last rung it reached); "
        f"hypervolume {hypervolume(front, budget):.4f} ({name} against parameters as a share "
        + (f"of the budget, {budget:,})." if budget else "of the largest network tried).")
    ]
    beside = beside_the_preset(front, seed)
    networks = front_networks(on, None if beside is None else beside[0], macs or {})
    if beside is None:
        return lines + networks
    preset, alike = beside
    share = alike["params"] / preset["params"]
    gap = (alike[metric] - preset[metric]) * 100
    at = f"after {n_epochs(int(preset['rung']))}"
    if (small := smallest_within(preset, alike)) is None:
        lines.append(f"No smaller network came within {WITHIN:g} point of the seed preset {at}.")
    else:
        lines.append(
            f"Smallest network within {WITHIN:g} point of the seed preset {at}: "
            f"{small['Name']}, {int(small['params']):,} params ({share[small.name]:.0%} of the "
            f"seed preset's {int(preset['params']):,}), {name} {small[metric]:.4f} vs "
            f"{preset[metric]:.4f} ({gap[small.name]:+.2f} points). One training seed each: "
            "the refit measures it."
        )
    better = alike[(alike["params"] <= preset["params"]) & (alike[metric] >= preset[metric])]
    better = better[(better["params"] < preset["params"]) | (better[metric] > preset[metric])]
    names = ", ".join(
        f"{r['Name']} ({int(r['params']):,} params, {r[metric]:.4f})" for _, r in better.iterrows()
    )
    lines.append(
        f"Networks that dominate the seed preset (as accurate and smaller) {at}: {names}. One "
        "training seed each: the refit (--front) measures them."
        if names
        else f"No network dominates the seed preset (as accurate and smaller) {at}."
    )
    return lines + networks


def front_networks(on: pd.DataFrame, preset: pd.Series | None, macs: dict[str, int]) -> list[str]:
    """A line per network on the front, smallest first: params (and their share of the seed
    preset's), the metric at the rung it reached, MACs; the seed preset marked."""
    metric = on.columns[2]
    name, lines = metric.removesuffix("_at_rung"), []
    for _, row in on.sort_values("params").iterrows():
        line = f"  on the front: {row['Name']}, {int(row['params']):,} params"
        if preset is not None:
            line += f" ({row['params'] / preset['params']:.0%} of the seed preset's)"
        rung = int(row["rung"])  # 0: stopped before ASHA's first rung
        line += f", {name} {row[metric]:.4f} " + (
            f"after {n_epochs(rung)}" if rung else "before the first rung"
        )
        if (count := macs.get(row["Name"])) is not None:
            line += f", {int(count):,} MACs"
        if preset is not None and row["Name"] == preset["Name"]:
            line += " (the seed preset)"
        lines.append(line)
    return lines
