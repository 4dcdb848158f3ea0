"""Which trials rank where: each trial scored at the highest rung it reached, the best trial,
the seed preset's trial, and the small facts every report asks of an experiment (its space,
its metric, the trials that trained)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiment.record import ran_with
from experiment.results import Experiment
from experiment.trials import REJECTED
from search_spaces import SPACES, SearchSpace, space_for_run
from search_spaces.base import Config, is_preset


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
        k.removeprefix("config/"): plain(v)
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


def plain(value):
    """NumPy and pandas scalars as the Python types a space's decode expects."""
    return value.item() if hasattr(value, "item") else value
