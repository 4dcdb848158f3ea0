"""Pareto lab: the product's searchers of two objectives on NAS-Bench-201's tables, accuracy
against size, many seeds in minutes (``bench/searcher_lab.py --objectives val_acc,model_size``).

    .venv/bin/python bench/searcher_lab.py --objectives val_acc,model_size [--seeds 30]
        [--evaluations 100] [--dataset cifar10 cifar100 imagenet]
        [--searchers stock-tpe tpe random nsga2] [--workers 2] [--out DIR]

The space and its rule are the one-objective lab's (``searcher_lab.lab_space``: NAS-Bench-201's
six edges, parameters below the median cell's, so about half the cells are rejected before they
"train"), without a seed preset. Each product searcher runs through ``FeasibleSearch`` with
``sizes=("params",)``, as ``nas.run --objectives val_acc,params`` runs it: the study is told
(validation accuracy, parameters). ``stock-tpe`` is Optuna's own multi-objective
``TPESampler``, the rule told as a constraint. An evaluation observes one of NAS-Bench-201's
seeds at random, as a real search does.

The score after each evaluation: the hypervolume of the *observed* front (the evaluations no
other one dominates by observed accuracy and parameters), its cells scored by their mean
accuracy over NAS-Bench-201's seeds, over the hypervolume of the true feasible front (every
feasible cell by its mean): 1.0 is the whole front found. Hypervolume from the reference point
(parameters at the rule's budget, accuracy 0), parameters as a share of the budget, accuracy as
a fraction (``searchers.pareto.hypervolume_2d``).

Prints one table per data set (searcher, hypervolume ratio at 10/20/50/100 evaluations: mean ±
standard error over seeds), the goals, writes ``pareto_lab.png`` (the curves) and
``pareto_lab.json`` (every run's evaluations and curve) to ``--out``; last
``mo_hv_ratio_at_N: X``, the default searcher's (``tpe``) mean ratio over random search's on the
first data set, at the last evaluation.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from searcher_lab import (
    Table,
    lab_space,
    observer,
    product_search,
    stock_tpe,
    summarize,
    table_text,
)

from searchers.pareto import dominates, hypervolume_2d

SEARCHERS = ("stock-tpe", "tpe", "random", "nsga2")  # prior and evolution: one objective
DATASETS = ("cifar10", "cifar100", "imagenet")


def run(searcher: str, seed: int, evaluations: int, dataset: str) -> dict:
    """One search of ``evaluations`` evaluations: the cells evaluated, what was observed, and
    the hypervolume ratio after each."""
    table = Table.load(dataset)
    space = lab_space(table, None)
    observe = observer(table, seed)
    if searcher == "stock-tpe":
        cells = stock_tpe(space, seed, evaluations, observe, objectives=2)
    else:
        cells = product_search(space, searcher, seed, evaluations, observe, sizes=("params",))
    return {
        "dataset": dataset,
        "searcher": searcher,
        "seed": seed,
        "evaluated": cells,
        "hv_ratio": hv_curve(table, cells),
    }


def hypervolume(table: Table, keys: list[str]) -> float:
    """The hypervolume of ``keys`` scored by their mean accuracy, parameters as a share of the
    rule's budget (the reference point: the budget, accuracy 0)."""
    budget = table.budget()
    points = [(table.params[k] / budget, -table.mean(k) / 100) for k in keys]
    return hypervolume_2d(points, (1.0, 0.0))


def true_hypervolume(table: Table) -> float:
    budget = table.budget()
    return hypervolume(table, [k for k in table.params if table.params[k] < budget])


def hv_curve(table: Table, cells: list[tuple[str, float]]) -> list[float]:
    """After each evaluation: the observed front's hypervolume (its cells scored by their mean)
    over the true feasible front's."""
    best, front, curve = true_hypervolume(table), [], []
    for key, value in cells:
        point = (-value, table.params[key])  # both minimised: the observed accuracy, the size
        if not any(dominates(p, point) for _, p in front):
            front = [(k, p) for k, p in front if not dominates(point, p)] + [(key, point)]
        curve.append(hypervolume(table, [k for k, _ in front]) / best)
    return curve


def goals(rows: list[dict], last: int) -> list[str]:
    """Per data set: our default above random search, and no worse than stock TPE within one
    standard error, at the last evaluation."""
    at = {(r["dataset"], r["searcher"]): r[last] for r in rows}
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ours = at.get((dataset, "tpe"))
        for other, claim in (("random", "above"), ("stock-tpe", "at least (within one SE)")):
            if ours is None or (dataset, other) not in at:
                continue
            (a, a_se), (b, b_se) = ours, at[dataset, other]
            held = a > b if other == "random" else a >= b - max(a_se, b_se)
            lines.append(
                f"{dataset}: tpe {claim} {other} at {last}: {a:.4f} vs {b:.4f}: "
                + ("yes" if held else "NO")
            )
    return lines


def plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        groups: dict[str, list[list[float]]] = {}
        for r in runs:
            if r["dataset"] == dataset:
                groups.setdefault(r["searcher"], []).append(r["hv_ratio"])
        for label, curves in groups.items():
            mean = np.mean(curves, axis=0)
            se = np.std(curves, axis=0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else 0
            x = np.arange(1, len(mean) + 1)
            ax.plot(x, mean, "--" if label in ("stock-tpe", "random") else "-", label=label)
            ax.fill_between(x, mean - se, mean + se, alpha=0.15)
        ax.set_title(f"NAS-Bench-201 {dataset}")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("hypervolume / true front's")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args, checkpoints: tuple[int, ...]) -> None:
    """The lab of two objectives, with ``searcher_lab``'s parsed flags."""
    import json

    datasets = args.dataset or list(DATASETS)
    searchers = args.searchers or list(SEARCHERS)
    if one := [s for s in searchers if s not in SEARCHERS]:
        raise SystemExit(
            f"--searchers {' '.join(one)} search one objective: with --objectives choose from "
            f"{', '.join(SEARCHERS)}."
        )
    jobs = [
        (searcher, seed, args.evaluations, dataset)
        for dataset in datasets
        for searcher in searchers
        for seed in range(args.seeds)
    ]
    for dataset in datasets:
        table = Table.load(dataset)
        print(
            f"NAS-Bench-201 {dataset}: {len(table.params):,} cells, rule params < "
            f"{table.budget():,} (the median); true feasible front's hypervolume "
            f"{true_hypervolume(table):.4f}",
            flush=True,
        )
    print(
        f"{args.seeds} seeds x {args.evaluations} evaluations per searcher and data set; "
        f"{len(jobs)} searches",
        flush=True,
    )
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True)))
    rows = summarize(runs, checkpoints, keys=("dataset", "searcher"), curve="hv_ratio")
    for dataset in datasets:
        print(f"\n{dataset}: hypervolume of the observed front over the true front's")
        mine = [r for r in rows if r["dataset"] == dataset]
        print(table_text(mine, checkpoints, "hv", keys=("searcher",)))
    print("\n".join(goals(rows, checkpoints[-1])))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pareto_lab.json").write_text(
        json.dumps({"checkpoints": checkpoints, "runs": runs})
    )
    plot(runs, args.out / "pareto_lab.png", f"{args.seeds} seeds, accuracy against parameters")
    print(f"Wrote {args.out / 'pareto_lab.png'} and {args.out / 'pareto_lab.json'}")
    at = {(r["dataset"], r["searcher"]): r[checkpoints[-1]][0] for r in rows}
    first = datasets[0]
    if (first, "tpe") in at and (first, "random") in at:
        ratio = at[first, "tpe"] / at[first, "random"]
        print(f"mo_hv_ratio_at_{checkpoints[-1]}: {ratio:.4f}")
