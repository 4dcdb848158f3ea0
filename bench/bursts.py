"""Searching in bursts on NAS-Bench-201's tables (the searcher lab's space, many seeds in minutes).

    .venv/bin/python bench/bursts.py [--seeds 30] [--searchers tpe evolution random]
        [--workers 2] [--out DIR]

Grown: a search planned for 50 evaluations runs them, is saved as Tune saves its searcher with
a snapshot and restored as ``nas.run --name X --resume --num-samples 100`` restores it (its
study reopened from the journal file), and runs 50 more. Planned: 100 evaluations at once.
Both observe the same draws of NAS-Bench-201's seeds, so a difference is what growing costs.

Warm start: a 100-evaluation TPE search carried into a new cifar10 search as ``nas.run
--warm-start`` carries an earlier experiment (``searchers.warm.knowledge``), against a cold
start: an earlier search of the same data (cifar10, another seed: the bursts of one project) and
of other data (cifar100: the same cells, their scores and sizes cifar100's); ``top 3 first``
also trains the earlier search's 3 best configurations first (``--warm-start-top 3``).

Regret as in ``bench/searcher_lab.py``: the best feasible cell's mean accuracy minus the
incumbent's, in points, mean ± standard error over seeds. Prints both tables, writes
``bursts.json`` to ``--out``; last line ``grown_minus_planned_regret_at_100: X`` (TPE, the
default searcher: mean over seeds of grown minus planned, with its standard error before it).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cloudpickle
from searcher_lab import (
    Table,
    decode,
    lab_space,
    observer,
    regret_curve,
    summarize,
    table_text,
)

from searchers.feasible import FeasibleSearch
from searchers.warm import best_configs, knowledge

FIRST, TOTAL = 50, 100
WARM_CHECKPOINTS = (10, 20)
SOURCES = ("cifar10", "cifar100")  # the earlier search: the same data (another seed), or other


def evaluate(search: FeasibleSearch, start: int, stop: int, observe) -> list[tuple[str, float]]:
    """Trials ``start`` .. ``stop`` - 1 of ``search``, one at a time, as Tune drives it."""
    cells = []
    for i in range(start, stop):
        key = decode(search.suggest(f"t{i}"))[0].key()
        result = {search.space.metric: observe(key), "training_iteration": 1}
        search.on_trial_result(f"t{i}", result)
        search.on_trial_complete(f"t{i}", result)
        cells.append((key, result[search.space.metric]))
    return cells


def grown_and_planned(searcher: str, seed: int) -> list[dict]:
    table = Table.load("cifar10")
    space = lab_space(table, None)
    runs = []
    for how in ("planned", "grown"):
        observe = observer(table, seed)
        with tempfile.TemporaryDirectory() as folder:
            planned = TOTAL if how == "planned" else FIRST
            search = FeasibleSearch(
                space, searcher, seed=seed, max_epochs=1, num_samples=planned,
                journal=f"{folder}/study.journal", name="lab",
            )  # fmt: skip
            cells = evaluate(search, 0, planned, observe)
            if how == "grown":  # Tune's snapshot, then the resume's restore (``save`` and
                # ``restore`` pickle the same state; cloudpickle for the lab space's closures)
                state = cloudpickle.dumps(search.__getstate__())
                search = FeasibleSearch.__new__(FeasibleSearch)
                search.__setstate__(cloudpickle.loads(state))
                cells += evaluate(search, FIRST, TOTAL, observe)
        runs.append({"searcher": searcher, "how": how, "seed": seed, "evaluated": cells})
        runs[-1]["regret"] = regret_curve(table, cells)
    return runs


def warm_and_cold(seed: int) -> list[dict]:
    table = Table.load("cifar10")
    space = lab_space(table, None)
    runs = []
    for source in SOURCES:
        earlier_table = Table.load(source)
        earlier = FeasibleSearch(
            lab_space(earlier_table, None), "tpe", seed=seed + 1, max_epochs=1, num_samples=TOTAL
        )
        evaluate(earlier, 0, TOTAL, observer(earlier_table, seed + 1))
        carried = knowledge(earlier.study.trials, source, space, max_epochs=1)
        for how in ("warm", "warm, top 3 first"):
            top = best_configs(carried, space, 3) if how.endswith("first") else []
            runs.append(warm_run(table, space, seed, f"{how} from {source}", carried, top))
    return [warm_run(table, space, seed, "cold", [], []), *runs]


def warm_run(table, space, seed: int, how: str, carried: list, top: list) -> dict:
    search = FeasibleSearch(
        space, "tpe", seed=seed, max_epochs=1, num_samples=20,
        points_to_evaluate=top, warm_start=carried,
    )  # fmt: skip
    cells = evaluate(search, 0, WARM_CHECKPOINTS[-1], observer(table, seed))
    return {"searcher": "tpe", "how": how, "seed": seed, "evaluated": cells,
            "regret": regret_curve(table, cells)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--searchers", nargs="+", default=["tpe", "evolution", "random"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("bench_runs/bursts"))
    args = p.parse_args(argv)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        grows = [pool.submit(grown_and_planned, s, seed) for s in args.searchers
                 for seed in range(args.seeds)]  # fmt: skip
        warms = [pool.submit(warm_and_cold, seed) for seed in range(args.seeds)]
        grown = [run for job in grows for run in job.result()]
        warm = [run for job in warms for run in job.result()]
    keys = ("searcher", "how")
    print(f"Grown ({FIRST} evaluations, then {TOTAL - FIRST} more) against {TOTAL} planned, "
          f"cifar10, {args.seeds} seeds:")  # fmt: skip
    print(table_text(summarize(grown, (FIRST, TOTAL), keys), (FIRST, TOTAL), keys=keys))
    print(f"\nWarm start from a {TOTAL}-evaluation search (cifar10 with another seed, or "
          f"cifar100) onto cifar10, {args.seeds} seeds:")  # fmt: skip
    print(table_text(summarize(warm, WARM_CHECKPOINTS, keys), WARM_CHECKPOINTS, keys=keys))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bursts.json").write_text(json.dumps({"grown": grown, "warm": warm}))
    pairs = {}
    for run in grown:
        if run["searcher"] == "tpe":
            pairs.setdefault(run["seed"], {})[run["how"]] = run["regret"][TOTAL - 1]
    gaps = [p["grown"] - p["planned"] for p in pairs.values()]
    if gaps:
        se = statistics.stdev(gaps) / math.sqrt(len(gaps)) if len(gaps) > 1 else 0.0
        identical = sum(g == 0 for g in gaps)
        print(f"\nTPE, grown minus planned at {TOTAL}: {statistics.mean(gaps):+.3f} ± {se:.3f} "
              f"points ({identical} of {len(gaps)} seeds identical)")  # fmt: skip
        print(f"grown_minus_planned_regret_at_100: {statistics.mean(gaps):.3f}")


if __name__ == "__main__":
    main()
