"""Tables derived from an experiment's results: architectures, Pareto front, curves, best, run.

Pure functions of the tables ``reports.results`` reads; the workbook, charts and HTML report
all draw from these.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from nas.constraints import check
from nas.summary import layer_rows
from reports.results import METRICS, REJECTED, Experiment
from search_spaces import SPACES, SearchSpace
from search_spaces.base import decoder
from trainables.models import spec_to_dict

CURVE_COLUMNS = ["epoch", *METRICS]


def space_of(experiment: Experiment) -> SearchSpace | None:
    """The space as the run used it (its --metric and --max-params), None if unknown."""
    space = SPACES.get(experiment.run.get("space", ""))
    options = experiment.run.get("options", {})
    return space and space.for_run(options.get("metric"), options.get("max_params"))


def metric_of(experiment: Experiment) -> str:
    """The metric the search optimised (``--metric``), else the space's, else val_acc."""
    if space := space_of(experiment):
        return space.metric
    return experiment.run.get("options", {}).get("metric") or "val_acc"


def decode_of(experiment: Experiment, space: SearchSpace):
    """The space's decode with the run's number of classes, as the trials decoded."""
    return decoder(space, experiment.run.get("options", {}).get("num_classes"))


def trained(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that reported at least one epoch."""
    if trials.empty or "epochs" not in trials:
        return trials.iloc[0:0]
    return trials[(trials["State"] != REJECTED) & trials["epochs"].notna()]


def configs(trials: pd.DataFrame) -> list[dict]:
    """Each row's config, without the keys that row's architecture does not have."""
    columns = [c for c in trials.columns if c.startswith("config/")]
    return [
        {c.removeprefix("config/"): v for c, v in row.items() if not pd.isna(v)}
        for row in trials[columns].to_dict("records")
    ]


def best_trial(experiment: Experiment) -> pd.Series | None:
    """The trial with the highest last value of the space's metric among those that ran the most
    epochs (as ``nas.run`` chooses it: at equal epochs with the seed preset, never stopped)."""
    metric = metric_of(experiment)
    done = trained(experiment.trials)
    if done.empty or metric not in done or done[metric].isna().all():
        return None
    scored = done[done[metric].notna()]
    longest = scored[scored["epochs"] == scored["epochs"].max()]
    return longest.loc[longest[metric].astype(float).idxmax()]


def architectures(experiment: Experiment) -> pd.DataFrame:
    """One row per distinct architecture: its knobs, cost, best accuracy and how often tried."""
    space, metric = space_of(experiment), metric_of(experiment)
    trials = experiment.trials
    if space is None or trials.empty:
        return pd.DataFrame()
    rows, decode = {}, decode_of(experiment, space)
    for (_, trial), config in zip(trials.iterrows(), configs(trials), strict=True):
        spec, _ = decode({k: _plain(v) for k, v in config.items()})
        knobs = {k: (str(v) if isinstance(v, tuple) else v) for k, v in spec_to_dict(spec).items()}
        key = json.dumps(knobs, sort_keys=True)
        if key not in rows:
            analysis, reasons = check(spec, space.rules)
            rows[key] = {
                **knobs,
                "params": analysis.params if analysis else None,
                "macs": analysis.macs if analysis else None,
                "receptive_field": analysis.receptive_field if analysis else None,
                "rules": "; ".join(reasons) or "met",
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
    """Trials by parameters and best accuracy; ``on_front`` marks the non-dominated ones."""
    metric = f"best_{metric_of(experiment)}"
    done = trained(experiment.trials)
    if done.empty or metric not in done:
        return pd.DataFrame(columns=["Name", "params", metric, "on_front"])
    table = done[["Name", "params", metric]].dropna().astype({"params": int, metric: float})
    table = table.sort_values(["params", metric], ascending=[True, False]).reset_index(drop=True)
    best_so_far, on_front = float("-inf"), []
    for value in table[metric]:  # fewer params first: on the front if it beats all smaller ones
        on_front.append(value > best_so_far)
        best_so_far = max(best_so_far, value)
    return table.assign(on_front=on_front)


def curves(experiment: Experiment) -> pd.DataFrame:
    """Per-epoch metrics of every trial in long form."""
    epochs = experiment.epochs
    if epochs.empty:
        return pd.DataFrame(columns=["Name", *CURVE_COLUMNS])
    columns = ["Name"] + [c for c in CURVE_COLUMNS if c in epochs]
    return epochs[columns].sort_values(["Name", "epoch"]).reset_index(drop=True)


def best_details(experiment: Experiment) -> tuple[list[tuple], list[tuple]]:
    """The best trial's (key, value) rows and its layer table rows (layer, type, shape, params)."""
    best, space = best_trial(experiment), space_of(experiment)
    if best is None:
        return [], []
    metric = metric_of(experiment)
    summary = [
        ("trial", best["Name"]),
        (metric, _plain(best[metric])),
        ("epochs", _plain(best["epochs"])),
    ]
    config = configs(best.to_frame().T)[0]
    summary += [(k, _plain(v)) for k, v in config.items()]
    layers = []
    if space is not None:
        spec, _ = decode_of(experiment, space)({k: _plain(v) for k, v in config.items()})
        analysis, _ = check(spec, space.rules)
        if analysis is not None:
            layers = layer_rows(analysis)
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


def _plain(value):
    """NumPy and pandas scalars as the Python types a space's decode expects."""
    return value.item() if hasattr(value, "item") else value


def lr_schedules(experiment: Experiment, points_per_epoch: int = 20) -> dict[str, pd.DataFrame]:
    """Each trial's learning rate through the epochs it trained, from its own scheduler.

    The schedule is replayed with the trial's settings on a throwaway parameter, so the curve
    is exactly the one ``CosineAnnealingWarmRestarts`` followed during training.
    """
    import torch

    space = space_of(experiment)
    done = trained(experiment.trials)
    schedules = {}
    for (_, trial), config in zip(done.iterrows(), configs(done), strict=True):
        if space is None:
            continue
        _, settings = decode_of(experiment, space)({k: _plain(v) for k, v in config.items()})
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=settings.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=settings.t0, T_mult=settings.t_mult
        )
        xs, ys = [0.0], [settings.lr]
        for step in range(1, int(trial["epochs"]) * points_per_epoch + 1):
            scheduler.step(step / points_per_epoch)
            xs.append(step / points_per_epoch)
            ys.append(optimizer.param_groups[0]["lr"])
        schedules[trial["Name"]] = pd.DataFrame({"epoch": xs, "lr": ys})
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
