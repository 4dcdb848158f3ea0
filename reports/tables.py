"""The tables the reports show, derived once from an experiment (``derive``): the answer first,
then architectures, curves, learning-rate schedules, parallel coordinates, the best trial and
the run's settings.

Pure functions of the tables ``experiment.results`` reads; the workbook, charts and HTML report
all draw from these.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiment.record import ran_with
from experiment.results import Experiment
from experiment.trials import ARCHITECTURE, METRICS, REJECTED
from reports.ablations import search_ablations
from reports.importance import Importance, importance
from reports.pareto import budget_of, front_answer, front_line, pareto, searched_sizes
from reports.ranking import (
    configs,
    metric_of,
    n_epochs,
    plain,
    ranking,
    rung_epochs,
    seed_trial,
    space_of,
    trained,
    trial_config,
)
from reports.refit import PRESET, RefitTables, final_model, refit_tables
from trainables.models import spec_to_dict
from trainables.models.analysis import layer_rows

CURVE_COLUMNS = ["epoch", *METRICS]


def headline(
    experiment: Experiment,
    best: pd.Series | None,
    seed: pd.Series | None,
    refit: RefitTables | None,
    front: Sequence[str] = (),
) -> list[str]:
    """The answer, first in every report: a Pareto search's ``front`` (``front_answer``), the
    best trial and its test accuracy, how it compares with the seed preset, and the refit's
    verdict on the search's pick."""
    if best is None:
        return ["No trial has reported a score yet."]
    return [*front, *_best_and_seed(experiment, best, seed, refit)]


def _best_and_seed(
    experiment: Experiment, best: pd.Series, seed: pd.Series | None, refit: RefitTables | None
) -> list[str]:
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
    return lines + (_refit_lines(refit) if refit is not None else [_predicts(best)])


def _predicts(best: pd.Series) -> str:
    return f"nas.predict uses the best trial, {best['Name']} (no refit yet)."


def _refit_lines(refit: RefitTables) -> list[str]:
    """The refit's verdict on the search's pick (the configuration the search ranked first,
    the one ``final_model`` trains: never the seed preset's comparison with itself), and the
    model nas.predict uses."""
    verdicts = refit.configurations.set_index("configuration").get("verdict")
    verdicts = {} if verdicts is None else verdicts.dropna().to_dict()
    final = final_model(refit)
    ranked = refit.configurations.dropna(subset=["search_rank"]).sort_values("search_rank")
    pick = refit.pick or (ranked.iloc[0]["configuration"] if len(ranked) else None)
    if pick == PRESET:
        line = "The search ranked the seed preset first: it is the search's pick"
        if isinstance(other := verdicts.get("top_1"), str):
            line += f"; the best other configuration (top_1): {other.rstrip('.')}"
        lines = [f"{line}."]
    elif isinstance(verdict := verdicts.get(pick), str):
        lines = [f"Refit of the search's pick ({pick}): {verdict.rstrip('.')}."]
    else:
        lines = []
    if final is not None:
        lines.append(f"nas.predict uses {final['Name']}: the search's pick ({pick}), refit.")
    else:
        lines.append("nas.predict uses the search's best trial: no refit model of its pick ended.")
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
        (metric, plain(best[metric])),
        ("epochs", plain(best["epochs"])),
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
    front_answer: list[str]  # a Pareto search's front in a few sentences (none: one objective)
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
    answer = []
    if searched_sizes(experiment):  # a Pareto search
        known = ranked.dropna(subset=["macs"]) if "macs" in ranked else ranked.iloc[0:0]
        macs = dict(zip(known["Name"], known["macs"], strict=True)) if "macs" in known else {}
        answer = front_answer(front, seed, budget_of(experiment), macs)
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
        front_answer=answer,
        headline=headline(experiment, best, seed, refit, answer),
        best_details=best_details(experiment, best),
        run_rows=run_rows(experiment),
        refit=refit,
        importance=importance(experiment.study, metric, rungs),
    )
