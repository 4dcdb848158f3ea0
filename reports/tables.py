"""Tables derived from an experiment's results: architectures, Pareto front, curves, best, run.

Pure functions of the tables ``experiment.results`` reads; the workbook, charts and HTML report
all draw from these.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiment.record import ran_with
from experiment.results import ARCHITECTURE, METRICS, REJECTED, Experiment
from reports.ablations import search_ablations
from reports.importance import Importance, importance
from reports.refit import RefitTables, refit_tables
from search_spaces import SPACES, SearchSpace, space_for_run
from search_spaces.base import Config, is_preset
from trainables.models import spec_to_dict
from trainables.models.analysis import layer_rows

CURVE_COLUMNS = ["epoch", *METRICS]


def space_of(experiment: Experiment) -> SearchSpace | None:
    """The space as the run searched it (its metric, budget, fixed values), None if unknown."""
    options = {"space": experiment.run.get("space"), **ran_with(experiment.run)}
    return space_for_run(options) if options["space"] in SPACES else None


def metric_of(experiment: Experiment) -> str:
    """The metric the search optimised (``--metric``), else the space's, else val_acc."""
    if space := space_of(experiment):
        return space.metric
    return ran_with(experiment.run).get("metric") or "val_acc"


def trained(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that reported at least one epoch."""
    if trials.empty or "epochs" not in trials:
        return trials.iloc[0:0]
    return trials[(trials["State"] != REJECTED) & trials["epochs"].notna()]


def trial_config(row: pd.Series) -> Config:
    """A trial's config as its space decodes it, without the keys its architecture lacks."""
    return {
        k.removeprefix("config/"): _plain(v)
        for k, v in row.items()
        if k.startswith("config/") and not pd.isna(v)
    }


def configs(trials: pd.DataFrame) -> list[Config]:
    """Each row's config (``trial_config``)."""
    return [trial_config(row) for _, row in trials.iterrows()]


def scored(experiment: Experiment) -> pd.DataFrame:
    """Trained trials with a finite last value of the search's metric."""
    metric, done = metric_of(experiment), trained(experiment.trials)
    if done.empty or metric not in done:
        return done.iloc[0:0]
    values = pd.to_numeric(done[metric], errors="coerce").astype(float)
    return done[np.isfinite(values)]


def rung_epochs(options: dict) -> list[int]:
    """The epochs at which a search's ASHA compared its trials, then its last epoch, ascending:
    the plan's ``rungs``, or for older run.json files ``grace_period * reduction_factor**k`` up
    to ``max_epochs`` (Ray's ``_Bracket`` rungs). Empty where ``options`` (``ran_with``) lacks
    them."""
    try:
        last = int(options["max_epochs"])
        if "rungs" in options:
            return sorted({*map(int, options["rungs"]), last})
        grace, factor = int(options["grace_period"]), int(options["reduction_factor"])
    except (KeyError, TypeError):
        return []
    rungs = [grace * factor**k for k in range(int(np.log(last / grace) / np.log(factor) + 1))]
    return sorted({*rungs, last})


def ranking(experiment: Experiment) -> pd.DataFrame:
    """Scored trials, best first: a trial that reached a higher rung of the search's ASHA ranks
    above one that did not, and trials at the same rung rank by the search's metric there.

    Adds ``rung`` (the epoch of the highest rung reached; 0 below the first) and ``at_rung`` (the
    metric at that epoch; the last value below the first rung). So the best meets the seed preset
    (never stopped early) at equal epochs. Without the run's settings, every trial's last epoch
    is its rung.
    """
    metric, candidates = metric_of(experiment), scored(experiment)
    if candidates.empty:
        return candidates.assign(rung=[], at_rung=[])
    marks = rung_epochs(ran_with(experiment.run))
    reached = [
        max((r for r in marks if r <= epochs), default=0) if marks else epochs
        for epochs in candidates["epochs"].astype(int)
    ]
    history = experiment.epochs.set_index(["trial_id", "training_iteration"])[metric]
    trials = zip(candidates["trial_id"], reached, candidates[metric], strict=True)
    at_rung = [
        float(history.get((t, rung), last)) if rung else float(last) for t, rung, last in trials
    ]
    ranked = candidates.assign(rung=reached, at_rung=at_rung)
    space = space_of(experiment)
    lowest_first = bool(space and space.mode == "min")
    return ranked.sort_values(["rung", "at_rung"], ascending=[False, lowest_first], kind="stable")


def n_epochs(count: int) -> str:
    """'1 epoch', '3 epochs': how every report and console line counts epochs."""
    return f"{count} epoch{'s' * (count != 1)}"


def best_trial(experiment: Experiment) -> pd.Series | None:
    """The first trial of ``ranking``: the one choice of ``nas.run``'s summary, ``nas.predict``
    and the reports."""
    ranked = ranking(experiment)
    return None if ranked.empty else ranked.iloc[0]


def preset_trial(experiment: Experiment, preset: Config | None) -> pd.Series | None:
    """The scored trial that trained ``preset`` (the seed preset as the run fixed it), if any."""
    candidates = scored(experiment)
    for (_, row), config in zip(candidates.iterrows(), configs(candidates), strict=True):
        if is_preset(config, preset):
            return row
    return None


def seed_trial(experiment: Experiment) -> pd.Series | None:
    """The trial that trained the seed preset, where the run trained one (``--seed-trial``)."""
    space = space_of(experiment)
    if space is None or "seed" not in space.presets:
        return None
    if not ran_with(experiment.run).get("seed_trial", True):
        return None
    return preset_trial(experiment, space.preset("seed"))


def headline(
    experiment: Experiment,
    best: pd.Series | None,
    seed: pd.Series | None,
    refit: RefitTables | None,
) -> list[str]:
    """The answer, first in every report: the best trial and its test accuracy, how it compares
    with the seed preset, and the refit's verdict on the search's pick."""
    if best is None:
        return ["No trial has reported a score yet."]
    metric = metric_of(experiment)

    def described(row: pd.Series) -> str:
        test = experiment.scores.get(row["trial_id"], math.nan)
        tested = "" if math.isnan(test) else f", test_acc {test:.4f}"
        return (
            f"{row['Name']}: {metric} {float(row[metric]):.4f} after "
            f"{n_epochs(int(row['epochs']))}{tested}, {int(row['params']):,} params"
        )

    lines = [f"Best trial {described(best)}."]
    if seed is not None and seed["trial_id"] == best["trial_id"]:
        trials = len(trained(experiment.trials))
        lines.append(f"It is the seed preset: the search found no better one in {trials} trials.")
    elif seed is not None:
        lines.append(
            f"Seed preset {described(seed)}. One training seed each: a difference here is not "
            "yet a measured gain; the refit measures it over paired seeds."
        )
    if refit is not None:
        verdicts = refit.configurations.set_index("configuration").get("verdict")
        if verdicts is not None and isinstance(verdicts.get("top_1"), str):
            lines.append(f"Refit of the search's pick (top_1): {verdicts['top_1']}.")
    return lines


def architectures(experiment: Experiment) -> pd.DataFrame:
    """One row per distinct architecture: its knobs, cost, best accuracy and how often tried."""
    space, metric = space_of(experiment), metric_of(experiment)
    trials = experiment.trials
    if space is None or trials.empty:
        return pd.DataFrame()
    rows = {}
    for (_, trial), config in zip(trials.iterrows(), configs(trials), strict=True):
        spec, _ = space.decode(config)
        knobs = {k: (str(v) if isinstance(v, tuple) else v) for k, v in spec_to_dict(spec).items()}
        key = json.dumps(knobs, sort_keys=True)
        if key not in rows:  # the figures every trial reported (rejected.jsonl's for the rest)
            rows[key] = {
                **knobs,
                **{k: _figure(trial.get(k)) for k in ARCHITECTURE},
                "rules": trial["Notes"] if trial["State"] == REJECTED else "met",
                f"best_{metric}": None,
                "trials": 0,
                "rejected": 0,
            }
        row = rows[key]
        if trial["State"] == REJECTED:
            row["rejected"] += 1
            continue
        row["trials"] += 1
        value = trial.get(f"best_{metric}")
        if value is not None and not pd.isna(value):
            row[f"best_{metric}"] = max(float(value), row[f"best_{metric}"] or float("-inf"))
    table = pd.DataFrame(rows.values())
    return table.sort_values(f"best_{metric}", ascending=False, na_position="last")


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


def curves(experiment: Experiment) -> pd.DataFrame:
    """Per-epoch metrics of every trial in long form."""
    epochs = experiment.epochs
    if epochs.empty:
        return pd.DataFrame(columns=["Name", *CURVE_COLUMNS])
    columns = ["Name"] + [c for c in CURVE_COLUMNS if c in epochs]
    return epochs[columns].sort_values(["Name", "epoch"]).reset_index(drop=True)


def best_details(
    experiment: Experiment, best: pd.Series | None
) -> tuple[list[tuple], list[tuple]]:
    """The best trial's (key, value) rows and its layer table rows (layer, type, shape, params)."""
    space = space_of(experiment)
    if best is None:
        return [], []
    metric = metric_of(experiment)
    summary = [
        ("trial", best["Name"]),
        (metric, _plain(best[metric])),
        ("epochs", _plain(best["epochs"])),
    ]
    config = trial_config(best)
    summary += list(config.items())
    layers = [] if space is None else layer_rows(space.analyze(space.decode(config)[0]))
    return summary, layers


def run_rows(experiment: Experiment) -> list[tuple[str, object]]:
    """run.json flattened to (key, value) rows: nested keys joined with dots."""
    rows: list[tuple[str, object]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, list):
            rows.append((prefix, json.dumps(value)))
        else:
            rows.append((prefix, value))

    walk("", experiment.run)
    return rows


def _figure(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _plain(value):
    """NumPy and pandas scalars as the Python types a space's decode expects."""
    return value.item() if hasattr(value, "item") else value


def lr_schedules(experiment: Experiment, points_per_epoch: int = 20) -> dict[str, pd.DataFrame]:
    """Each trial's learning rate through the epochs it trained, asked of its recipe, which
    replays its own scheduler: the curve is exactly the one the trial followed."""
    space = space_of(experiment)
    done = trained(experiment.trials)
    schedules = {}
    for (_, trial), config in zip(done.iterrows(), configs(done), strict=True):
        if space is None:
            continue
        _, recipe = space.decode(config)
        steps = int(trial["epochs"]) * points_per_epoch
        xs = [step / points_per_epoch for step in range(steps + 1)]
        schedules[trial["Name"]] = pd.DataFrame({"epoch": xs, "lr": recipe.lr_at(xs)})
    return schedules


def parallel_coordinates(experiment: Experiment) -> tuple[list[str], pd.DataFrame]:
    """Knobs that vary between trained trials, scaled to [0, 1], then parameters and the metric.

    Per-block knobs (``width_0``, ``width_1``...) are left out: the axes would outnumber the
    trials. Returns the axis names (the metric last) and one row per trial (``Name`` and one
    column per axis); categorical knobs are spread evenly in order of first appearance.
    """
    metric = f"best_{metric_of(experiment)}"
    done = trained(experiment.trials)
    if done.empty or metric not in done:
        return [], pd.DataFrame()
    keys = [c.removeprefix("config/") for c in done.columns if c.startswith("config/")]
    keys = [k for k in keys if k != "seed" and not re.search(r"_\d+$", k)]
    frame = pd.DataFrame(configs(done), index=done.index).reindex(columns=keys)
    frame["params"] = done["params"]
    frame = frame.loc[:, frame.nunique(dropna=True) > 1]
    scaled = pd.DataFrame({"Name": done["Name"]}, index=done.index)
    for column in frame:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            codes = {v: i for i, v in enumerate(dict.fromkeys(values.dropna()))}
            values = values.map(codes)
        values = values.astype(float)
        if column in ("lr", "weight_decay"):  # searched log-uniformly
            values = np.log10(values)
        low, high = values.min(), values.max()
        scaled[column] = (values - low) / (high - low) if high > low else 0.5
    scaled[metric] = done[metric].astype(float)
    return [*frame.columns, metric], scaled.reset_index(drop=True)


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


@dataclass(frozen=True)
class Derived:
    """Every table the reports show, derived once from an experiment for all of its writers."""

    experiment: Experiment
    metric: str
    ablations: pd.DataFrame  # ablations.csv and the Trials sheet
    architectures: pd.DataFrame
    pareto: pd.DataFrame
    front: tuple[list[float], list[float]]  # front_line(pareto)
    curves: pd.DataFrame
    schedules: dict[str, pd.DataFrame]
    parallel: tuple[list[str], pd.DataFrame]
    best: pd.Series | None
    seed: pd.Series | None  # the seed preset's trial
    headline: list[str]  # the answer in a few sentences, first in every report
    best_details: tuple[list[tuple], list[tuple]]
    run_rows: list[tuple[str, object]]
    refit: RefitTables | None  # where the experiment has a refit
    importance: Importance


def derive(experiment: Experiment) -> Derived:
    front, metric = pareto(experiment), metric_of(experiment)
    ranked, seed = ranking(experiment), seed_trial(experiment)
    best = None if ranked.empty else ranked.iloc[0]
    rungs = rung_epochs(ran_with(experiment.run))
    refit = refit_tables(experiment.refit) if experiment.refit else None
    return Derived(
        experiment=experiment,
        metric=metric,
        ablations=search_ablations(
            experiment.trials,
            list(ranked["Name"]),
            None if seed is None else seed["Name"],
            experiment.scores,
        ),
        architectures=architectures(experiment),
        pareto=front,
        front=front_line(front),
        curves=curves(experiment),
        schedules=lr_schedules(experiment),
        parallel=parallel_coordinates(experiment),
        best=best,
        seed=seed,
        headline=headline(experiment, best, seed, refit),
        best_details=best_details(experiment, best),
        run_rows=run_rows(experiment),
        refit=refit,
        importance=importance(experiment.study, metric, rungs),
    )
