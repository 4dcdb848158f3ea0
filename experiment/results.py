"""The results tables of an experiment, read from its folder alone (no Ray driver needed).

Works on a finished experiment, one whose driver was killed, and one still running: it reads
each trial's ``result.json`` (one line per epoch), Tune's latest ``experiment_state-*.json``
(trial statuses and errors), ``rejected.jsonl`` and ``run.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import optuna
import pandas as pd

from experiment import storage
from experiment.journal import load_study
from experiment.layout import (
    REFIT,
    REFIT_RECORD,
    RUN_RECORD,
    STUDY,
)
from experiment.record import RecordError, read_record
from experiment.snapshot import trial_statuses
from experiment.summary import read_summary
from experiment.trials import epochs_table, rejected_candidates, trials_table


class NowhereToWrite(Exception):
    """The reports' folder cannot be written safely; the message says why and what to do."""


@dataclass
class Experiment:
    location: str
    run: dict  # run.json (empty for folders made without it); refit.json for a refit
    epochs: pd.DataFrame  # one row per (trial, epoch): Name, epoch, metrics, config/<key>
    trials: pd.DataFrame  # one row per trial and rejected candidate (see ``trials_table``)
    problems: tuple[str, ...] = ()  # what could not be read, said once by the caller
    refit: Experiment | None = None  # its refit's models, where it has one
    study: optuna.Study | None = None  # the searcher's Optuna study, where it is on disk
    # Trial id -> accuracy on the test split, for the trials nas.run scored there (its best and
    # the seed preset, from summary.json): the reports show it, never choose by it.
    scores: dict[str, float] = field(default_factory=dict)


def load_experiment(location: str) -> Experiment:
    """Read everything the reports need from an experiment folder (local path or URI)."""
    location = storage.resolve(location)
    if not storage.exists(location):
        raise FileNotFoundError(f"no experiment folder at {location}")
    if storage.is_file(location):
        raise FileNotFoundError(
            f"{location} is a file, not an experiment folder: give the folder of one experiment"
        )
    if not is_experiment(location):
        raise FileNotFoundError(
            f"{location} is not an experiment folder (no run.json, no Tune snapshot, no "
            "trial_* folder): give the folder of one experiment, such as "
            f"{storage.join(location, 'NAME')} for an experiment NAME stored there"
        )
    try:
        run, problems = read_record(location), ()
    except RecordError as e:  # the results alone still make the reports
        run, problems = {}, (f"{e}: the reports leave out the run's settings",)
    epochs, unread = epochs_table(location)
    problems += unread
    statuses = trial_statuses(location)
    rejected, unread = rejected_candidates(location)
    problems += unread
    max_epochs = run.get("options", {}).get("max_epochs")
    if max_epochs is None and not epochs.empty:
        max_epochs = int(epochs["training_iteration"].max())
    trials = trials_table(epochs, statuses, rejected, max_epochs or 0)
    refit, refit_problems = load_refit(location)
    problems += refit_problems
    try:
        study = load_study(location)
    except (ValueError, KeyError, TypeError) as e:  # empty, or lines that are not Optuna's
        study = None
        problems += (
            f"{storage.join(location, STUDY)} cannot be read ({type(e).__name__}: {e}): the "
            "reports leave out the knobs' importance; restore the file",
        )
    return Experiment(location, run, epochs, trials, problems, refit, study, test_scores(location))


def test_scores(location: str) -> dict[str, float]:
    """``Experiment.scores`` from the summary nas.run last wrote ({} before its first)."""
    summary = read_summary(location, set_aside=False)
    trials = [summary.get("best"), summary.get("seed")]
    return {
        t["trial_id"]: float(t["test_acc"])
        for t in trials
        if isinstance(t, dict) and isinstance(t.get("test_acc"), int | float) and "trial_id" in t
    }


def is_experiment(location: str) -> bool:
    """Whether ``location`` holds an experiment: its run.json, a Tune snapshot or a trial."""
    names = [f.rsplit("/", 1)[-1] for f in storage.files(location)]
    if RUN_RECORD in names or any(n.startswith("experiment_state-") for n in names):
        return True
    return any(f.rsplit("/", 1)[-1].startswith("trial_") for f in storage.subfolders(location))


def readable(record: dict) -> None:
    """Raise KeyError or TypeError where a refit.json lacks what the reports and nas.predict
    read of it (a hand edit, a cut copy)."""
    record["score"], record["search_metric"]
    for candidate in record["candidates"]:
        candidate["name"]
    list(map(int, record["seeds"]))


def load_refit(location: str) -> tuple[Experiment | None, tuple[str, ...]]:
    """The refit of the experiment at ``location``, its models as trials (None without one),
    and what could not be read."""
    folder = storage.join(location, REFIT)
    path = storage.join(folder, REFIT_RECORD)
    if not storage.exists(path):
        return None, ()
    try:
        record = json.loads(storage.read_text(path))
        epochs = int(record["epochs"])
        readable(record)
    except (ValueError, KeyError, TypeError) as e:
        return None, (
            f"{path} cannot be read ({type(e).__name__}: {e}): the reports leave out the refit",
        )
    models, problems = epochs_table(folder)
    return Experiment(
        folder, record, models, trials_table(models, trial_statuses(folder), [], epochs)
    ), problems
