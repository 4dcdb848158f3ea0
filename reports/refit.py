"""A refit's tables: one row per model (``refit.csv``), one per configuration, and how far the
search's ranking held (Kendall's tau). Pure functions of ``Experiment.refit``.

Each configuration's score is the mean over its seeds with a 95% Student-t interval; its gain
over the seed preset is paired: the difference between the two models trained with the same
seed, averaged over the seeds both finished, with its own interval. A gain whose interval lies
above zero is larger than the seed-to-seed noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from experiment.results import Experiment
from experiment.trials import FINISHED
from reports.ablations import ablation_table
from reports.pareto import WITHIN

PRESET = "seed_preset"  # the name of the reference configuration in a refit


@dataclass(frozen=True)
class RefitTables:
    score: str  # what each model is scored by: test_acc, or the search's metric on dev
    epochs: int
    seeds: list[int]
    models: pd.DataFrame  # refit.csv: one row per (configuration, seed)
    configurations: pd.DataFrame  # one row per configuration, the seed preset first
    kendall_tau: float | None  # search rank against refit rank; None below two ranked, or all tied
    pick: str | None = None  # a front's refit: the configuration nas.predict uses, fixed before
    pick_why: str | None = None  # how pick_front chose it: "within", "none within", "no score"


def refit_tables(refit: Experiment) -> RefitTables:
    record = refit.run
    score = record["score"]
    candidates = {c["name"]: c for c in record["candidates"]}
    models = model_table(refit.trials, candidates)
    table = configuration_table(models, candidates, score, record["search_metric"])
    if record.get("front"):  # a Pareto search's front: sizes against the seed preset's
        table.insert(5, "params_share", table["params"] / candidates[PRESET]["params"])
    else:
        table = table.drop(columns="call", errors="ignore")
    return RefitTables(
        score=score,
        epochs=int(record["epochs"]),
        seeds=list(record["seeds"]),
        models=models,
        configurations=table,
        kendall_tau=kendall_tau(table),
        pick=record.get("pick"),
        pick_why=record.get("pick_why"),
    )


def model_table(trials: pd.DataFrame, candidates: dict[str, dict]) -> pd.DataFrame:
    """refit.csv: the columns of ablations.csv (Name, State, Notes, Created, Runtime, the
    configuration's keys, the metrics, params, seed), with the configuration's name and its
    place in the search's ranking after Runtime."""
    if trials.empty:
        return pd.DataFrame(columns=["Name", "State", "configuration", "search_rank", "seed"])
    names = trials["config/candidate"].astype(str)
    rows = trials.drop(columns=[c for c in trials if c.startswith(("best_", "config/"))])
    first, metrics = rows.columns[:5], rows.columns[5:]
    placed = pd.DataFrame(
        {
            "configuration": names,
            "search_rank": [candidates[name]["search_rank"] for name in names],
        },
        index=rows.index,
    )
    config = pd.DataFrame([candidates[name]["config"] for name in names], index=rows.index)
    config = config.convert_dtypes()  # whole numbers stay whole beside a shallower network
    table = pd.concat([rows[first], placed, config.add_prefix("config/"), rows[metrics]], axis=1)
    table = ablation_table(table)
    return table[[c for c in table if c != "seed"] + ["seed"]]


def configuration_table(
    models: pd.DataFrame, candidates: dict[str, dict], score: str, search_metric: str
) -> pd.DataFrame:
    """Per configuration: its search rank and score there, params, MACs, the mean, standard
    deviation and 95% interval of ``score`` over its finished seeds, its refit rank, and its
    paired gain over the seed preset (points) with a sentence on whether it beats the noise."""
    done = models[models["State"] == FINISHED] if "State" in models else models.iloc[0:0]
    by_seed = (
        {
            name: dict(zip(group["seed"].astype(int), group[score].astype(float), strict=True))
            for name, group in done.groupby("configuration")
        }
        if score in done
        else {}
    )
    preset = by_seed.get(PRESET, {})
    rows = []
    for name, candidate in candidates.items():
        scores = by_seed.get(name, {})
        mean, std, low, high = interval(list(scores.values()))
        if score.endswith("_acc"):  # a t interval of few seeds can reach past what accuracy can
            low, high = max(low, 0.0), min(high, 1.0)
        row = {
            "configuration": name,
            "search_rank": candidate["search_rank"],
            "search_trial": candidate["search_trial"],
            f"search_{search_metric}": candidate["search_value"],
            "params": candidate["params"],
            "macs": candidate["macs"],
            "seeds": len(scores),
            f"mean_{score}": mean,
            f"std_{score}": std,
            "ci95_low": low,
            "ci95_high": high,
        }
        if name != PRESET:
            seeds = sorted(set(scores) & set(preset))
            gains = [(scores[s] - preset[s]) * 100 for s in seeds]
            names = ("gain", "gain_std", "gain_low", "gain_high")
            row |= dict(zip(names, interval(gains), strict=True))
            row["verdict"], row["call"] = verdict(gains), call(gains)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["search_rank"] = table["search_rank"].astype("Int64")  # the preset may have none
    means = table[f"mean_{score}"].astype(float)
    table.insert(2, "refit_rank", means.rank(ascending=False, method="min").astype("Int64"))
    return table


def interval(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the 95% Student-t interval of the mean (NaN where
    there are too few values: one value has no spread)."""
    n = len(values)
    if n == 0:
        return (math.nan,) * 4
    mean = float(np.mean(values))
    if n == 1:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def call(gains: list[float]) -> str | None:
    """``verdict`` in a word or three: "beats", "no clear difference" or "worse" (None below
    two seeds: no measure of the noise)."""
    if len(gains) < 2:
        return None
    _, _, low, high = interval(gains)
    return "beats" if low > 0 else "worse" if high < 0 else "no clear difference"


def verdict(gains: list[float]) -> str:
    """Whether paired gains (points, one per seed) are larger than the seed-to-seed noise."""
    if not gains:
        return "no seed with both this model and the seed preset finished: no comparison yet."
    mean, _, low, high = interval(gains)
    if len(gains) == 1:
        return (
            f"{mean:+.2f} points on one seed: no measure of the noise; refit with more "
            "--seeds to tell a gain from luck."
        )
    span = f"{mean:+.2f} points, 95% interval {low:+.2f} to {high:+.2f} over {len(gains)} seeds"
    return {
        "beats": f"beats the seed preset ({span}): larger than the seed-to-seed noise.",
        "worse": f"worse than the seed preset ({span}): beyond the seed-to-seed noise.",
        "no clear difference": f"no clear difference from the seed preset ({span}): "
        + too_few_seeds(gains),
    }[call(gains)]


MOST_SEEDS = 100  # past this many seeds, a difference is too small to tell for any refit


def too_few_seeds(gains: list[float]) -> str:
    """Whether more seeds could tell the paired ``gains``' mean from zero: the seeds whose 95%
    interval, at the spread seen, would exclude zero."""
    mean, std, _, _ = interval(gains)
    n = len(gains)
    for seeds in range(n + 1, MOST_SEEDS + 1):
        if stats.t.ppf(0.975, seeds - 1) * std / math.sqrt(seeds) < abs(mean):
            return (
                f"{n} seeds cannot tell a difference of this size from the seed-to-seed noise "
                f"seen ({std:.2f} points); about {seeds} would (nas.refit --seeds {seeds})."
            )
    return (
        f"within the seed-to-seed noise ({std:.2f} points): more than {MOST_SEEDS} seeds would be "
        "needed to tell a difference this small."
    )


MIN_RANKED = 5  # configurations a rank correlation needs before a perfect one means something


def tau_sentence(tau: float | None, ranked: int) -> str:
    """Kendall's tau between the search's ranking and the refit's, over ``ranked``
    configurations, and whether there are enough to tell (at 4 or fewer even a perfect
    agreement is within what chance gives at the 5% level)."""
    if tau is None:
        return "no rank correlation (fewer than two configurations scored, or all tied)"
    said = f"Kendall's tau {tau:+.2f} over {ranked} configurations"
    if ranked < MIN_RANKED:
        return (
            f"{said}: too few to tell whether the search's order held ({MIN_RANKED} or more "
            f"could: nas.refit --top {MIN_RANKED - 1})"
        )
    return f"{said} (1: the search's order held, 0: unrelated)"


def kendall_tau(configurations: pd.DataFrame) -> float | None:
    """Kendall's tau-b between the search's ranking and the refit's, over the configurations
    both ranked: 1 the same order, 0 unrelated, -1 reversed."""
    both = configurations.dropna(subset=["search_rank", "refit_rank"])
    if len(both) < 2:
        return None
    tau = stats.kendalltau(both["search_rank"].astype(float), both["refit_rank"].astype(float))
    return None if math.isnan(tau.statistic) else float(tau.statistic)


def final_model(tables: RefitTables) -> pd.Series | None:
    """The refit model ``nas.predict`` uses, fixed before any model is scored: the search's pick
    (the configuration its ranking put first, by the search's metric on validation) trained with
    the first of the refit's seeds that finished. The refit's scores (the test split, where it
    has labels) only report how the pick compares with the seed preset; they never choose, or
    the test split would both select and report. A front's refit has its pick in refit.json,
    chosen from the search's scores too (``nas.candidates.pick_front``). None before the pick
    has a finished model."""
    ranked = tables.configurations.dropna(subset=["search_rank"])
    if tables.pick is not None:  # a front's refit: fixed from the search's scores alone
        pick = tables.pick
    elif ranked.empty:
        return None
    else:
        pick = ranked.sort_values("search_rank").iloc[0]["configuration"]
    models = tables.models[
        (tables.models["configuration"] == pick) & (tables.models["State"] == FINISHED)
    ]
    if models.empty:
        return None
    order = models["seed"].astype(int).map(tables.seeds.index)
    return models.loc[order.idxmin()]


def pick_reason(pick: str, why: str | None, configurations: list[dict]) -> str:
    """Why a front's refit hands nas.predict its pick (``why``: how ``pick_front`` chose it;
    ``configurations``: the refit's rows): chosen from the search's own scores, with what the
    refit said of it since."""
    if pick == PRESET and why == "no score":
        return (
            "the seed preset: the search never scored it, so no network of the front could be "
            "measured against it there"
        )
    if pick == PRESET:
        return (
            "the seed preset: no smaller network on the search's front came within "
            f"{WITHIN:g} point of it in the search"
        )
    row = next(c for c in configurations if c["configuration"] == pick)
    said = row.get("call") if isinstance(row.get("call"), str) else "no verdict yet"
    return (
        f"{pick} ({row['params']:,} params, {row['params_share']:.0%} of the seed preset's): the "
        f"smallest network on the search's front within {WITHIN:g} point of the seed preset "
        f"there, chosen before any refit score; the refit: {said}"
    )
