"""The search's Optuna study rebuilt from the trials' logs, where its journal is missing, empty or
damaged beyond a cut last line (``experiment.journal.mend``).

Everything the study holds is in the logs: a started trial's number is its seed inverted
(``trial_number``), its knobs are its config (``params.json``, each ``result.json`` line), its
epochs and end are its ``result.json`` and Tune's snapshot; a rejected candidate's number,
config and reasons are its line of ``rejected.jsonl``. Each is replayed through the space's own
``sample`` on an enqueued trial, so its parameters, distributions and constraints are the ones
Optuna made, then ended as the logs say (``told``). Numbers no log names (a candidate asked as a
kill came, an earlier search's knowledge that is gone) are failed trials without knobs, so every
later trial keeps its number and the searcher's restored state agrees with the study.

What the logs do not hold: the samplers' notes (``arm``, ``parent``, ``mutated``), and each
trial's end to better than the second Tune logs it at (trials that ended within one second are
taken in number order, where evolution's population ages by end).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from experiment import storage
from experiment.journal import REJECTION, TUNE_TRIAL_ID
from experiment.layout import STUDY
from experiment.record import ran_with
from experiment.results import Experiment
from experiment.trials import FAILED, FINISHED, REJECTED, RUNNING, STOPPED
from search_spaces import SPACES, space_for_run
from search_spaces.base import Config, SearchSpace
from search_spaces.rules import check
from searchers.feasible import (
    directions,
    drawable,
    objective_names,
    set_constraints,
    trial_number,
)
from searchers.warm import made

ENQUEUED = "fixed_params"  # Optuna's system attribute of an enqueued point


class CannotRebuild(Exception):
    """The logs cannot give the study back; the message says why."""


class Logged:
    """What an experiment's logs say each candidate of its search was: number -> row."""

    def __init__(self, experiment: Experiment, seed: int):
        self.started: dict[int, pd.Series] = {}
        self.rejected: dict[int, pd.Series] = {}
        for _, row in experiment.trials.iterrows():
            if row["State"] == REJECTED:
                self.rejected[int(str(row["Name"]).removeprefix("rejected_"))] = row
            elif not pd.isna(row.get("seed")):
                self.started[trial_number(seed, int(row["seed"]))] = row
        epochs = experiment.epochs
        by_name = epochs.groupby("Name") if "Name" in epochs else ()
        self.epochs = {name: rows.sort_values("training_iteration") for name, rows in by_name}

    def __len__(self) -> int:
        return max([*self.started, *self.rejected], default=-1) + 1

    def describe(self) -> str:
        started, rejected = len(self.started), len(self.rejected)
        return f"the logs of {started} trial(s) and {rejected} rejected candidate(s)"


def disagreement(
    study: optuna.Study | None,
    logged: Logged,
    asked: int | None = None,
    fixed: Collection[str] = (),
) -> str | None:
    """Why ``study`` does not hold the candidates the logs know (None where it does): each
    started trial under its number, Tune id and knobs (but the ``fixed`` ones, which the run
    sets over what the sampler drew), each rejected one as rejected, and as many candidates as
    the snapshot's searcher had asked (``asked``)."""
    if study is None:
        return "Optuna cannot read it"
    trials = study.get_trials(deepcopy=False)
    if not trials and (logged.started or logged.rejected):
        return "it holds no trial"
    for number, row in logged.started.items():
        trial = trials[number] if number < len(trials) else None
        if trial is None or trial.user_attrs.get(TUNE_TRIAL_ID) != row["trial_id"]:
            return f"it lacks trial {number} ({row['Name']})"
        config, drawn = logged_config(row), trial.params.items()
        if not trial.params or any(config.get(k) != v for k, v in drawn if k not in fixed):
            return f"trial {number} ({row['Name']}) lacks its knobs"
    for number in logged.rejected:
        if number >= len(trials) or REJECTION not in trials[number].user_attrs:
            return f"it lacks rejected candidate {number}"
    if asked is not None and len(trials) < asked:
        return f"it holds {len(trials)} candidate(s) where the search had asked {asked}"
    return None


def rebuilt_trials(
    logged: Logged,
    space: SearchSpace,
    max_epochs: int,
    sizes: tuple[str, ...] = (),
    points: Sequence[Config] = (),
    warm: Sequence[FrozenTrial] | None = (),
    asked: int | None = None,
    generations: tuple[str, int] | None = None,
) -> list[FrozenTrial]:
    """The study's trials in number order, from ``logged``: ``warm`` (the knowledge the search
    began with; None where it can no longer be read: failed trials hold its numbers) first,
    then ``points`` (enqueued: the seed preset, warm-start configurations) in order, then what
    the sampler proposed; at least ``asked`` of them. The first candidate asked has the lowest
    number a log names, so warm knowledge is cut to that many trials (an earlier experiment
    grown since). ``generations``: a genetic sampler's attribute and population size
    (``optuna_compat.generations``)."""
    scratch = optuna.create_study(directions=directions(space, sizes))
    lowest = min([*logged.started, *logged.rejected], default=None)
    if warm is None:
        first = lowest or 0
        trials = [lost(number) for number in range(first)]
    else:
        first = len(warm) if lowest is None else min(len(warm), lowest)
        trials = list(warm[:first])
    for number in range(first, max(len(logged), asked or 0, first + len(points))):
        point = points[number - first] if number - first < len(points) else None
        row = logged.started.get(number)
        if row is None:
            row = logged.rejected.get(number)
        if row is not None:
            trial = replayed(scratch, space, row, logged, max_epochs, sizes)
        elif point is not None and number >= (asked or 0):  # not asked yet: as enqueued
            trial = FrozenTrial(
                number, TrialState.WAITING, None, None, None, {}, {}, {}, {}, {}, -1
            )
        else:  # asked, but no log names it
            trial = lost(number)
        system_attrs = {k: v for k, v in trial.system_attrs.items() if k != ENQUEUED}
        trial.system_attrs = system_attrs | ({ENQUEUED: drawable(point, space)} if point else {})
        trial.number = number
        trials.append(trial)
    if generations is not None:
        number_generations(trials, first, *generations)
    return trials


def lost(number: int) -> FrozenTrial:
    """A failed trial without knobs: a number whose candidate no log names."""
    now = datetime.now()
    return FrozenTrial(number, TrialState.FAIL, None, now, now, {}, {}, {}, {}, {}, -1)


def number_generations(trials: list[FrozenTrial], first: int, key: str, population: int):
    """Give each proposed trial its generation as NSGA-II gave it when the trial was asked: the
    newest generation among the trials complete by then, or the next one where that one holds
    ``population`` already. Complete by then: a rejected candidate before it (told at once), or
    a trial before it whose last epoch was logged no later than the second of its own start
    (Tune logs whole seconds; a rejected candidate is taken as asked with the next trial)."""
    following = datetime.now()
    for trial in reversed(trials[first:]):
        if REJECTION in trial.user_attrs:
            trial.datetime_start = trial.datetime_complete = following
        elif TUNE_TRIAL_ID in trial.user_attrs:
            following = trial.datetime_start
    for i, trial in enumerate(trials[first:], start=first):
        if ENQUEUED in trial.system_attrs or not trial.params:
            continue
        asked = trial.datetime_start + timedelta(seconds=1)
        done = [
            t.system_attrs[key]
            for t in trials[:i]
            if t.state == TrialState.COMPLETE
            and key in t.system_attrs
            and (REJECTION in t.user_attrs or t.datetime_complete <= asked)
        ]
        newest = max(done, default=0)
        trial.system_attrs = {
            key: newest + (done.count(newest) >= population),
            **trial.system_attrs,
        }


def replayed(
    scratch: optuna.Study,
    space: SearchSpace,
    row: pd.Series,
    logged: Logged,
    max_epochs: int,
    sizes: tuple[str, ...],
) -> FrozenTrial:
    """One logged candidate drawn again on an enqueued trial of ``scratch``, ended as logged."""
    config = logged_config(row)
    # A knob the run fixes (--input-size) is set over what the sampler drew, which no log keeps:
    # drawn again here, then set over as the run does.
    scratch.enqueue_trial(drawable(config, space), skip_if_exists=False)
    trial = scratch.ask()
    try:
        drawn = space.sample(trial)
    except ValueError as e:  # a logged value the space no longer has among its choices
        name = row["Name"]
        raise CannotRebuild(f"{name}'s config is not one space {space.name} draws ({e})") from None
    differs = sorted(k for k, v in config.items() if drawn.get(k) != v)
    if differs:
        raise CannotRebuild(
            f"{row['Name']}'s config is not one that space {space.name} draws (its "
            f"{', '.join(differs)}): the space's code changed since"
        )
    analysis, reasons = check(space.decode(drawn)[0], space.rules, space.analyze)
    set_constraints(trial, space.rules, analysis, reasons)
    frozen = scratch.get_trials(deepcopy=True)[-1]
    if row["State"] == REJECTED:
        entry = {"reasons": reasons, "config": drawn} | (analysis.figures() if analysis else {})
        frozen.user_attrs[REJECTION] = entry
        values = [0.0, *(float(entry.get(size, 0)) for size in sizes)]
        return told(frozen, TrialState.COMPLETE, values, {}, sizes)
    frozen.user_attrs[TUNE_TRIAL_ID] = row["trial_id"]
    rows = logged.epochs.get(row["Name"])
    by_epoch, end = epochs_of(rows, space.metric)
    state = ended(row, rows, by_epoch, max_epochs)
    values = None
    if state in (TrialState.COMPLETE, TrialState.PRUNED):
        last = rows.iloc[-1]
        values = [by_epoch[max(by_epoch)], *(float(last.get(size, 0)) for size in sizes)]
    frozen.datetime_start = start_of(rows) or frozen.datetime_start
    trial = told(frozen, state, values, by_epoch, sizes)
    trial.datetime_complete = end if state.is_finished() else None
    return trial


def told(
    trial: FrozenTrial,
    state: TrialState,
    values: list[float] | None,
    by_epoch: dict[int, float],
    sizes: tuple[str, ...],
) -> FrozenTrial:
    """``trial`` as the searcher told it: its end, its values (the metric, then ``sizes``)
    and its epochs (``searchers.warm.made``: intermediate values, or a user attribute with
    several objectives); its start kept."""
    if state == TrialState.FAIL or (sizes and state != TrialState.COMPLETE):
        values = None  # Optuna keeps no values of a failed trial, nor of a pruned one of several
    result = made(trial, state, values, by_epoch, trial.user_attrs, sizes)
    result.datetime_start = trial.datetime_start
    return result


def ended(row: pd.Series, rows: pd.DataFrame | None, by_epoch: dict, max_epochs: int):
    """The state the searcher was told for a started trial the reports show as ``row``."""
    state = row["State"]
    if state == RUNNING:
        return TrialState.RUNNING
    diverged = rows is not None and isinstance(rows.iloc[-1].get("failure"), str)
    if (state == FAILED and not diverged) or not by_epoch:  # an error: no result ended it
        return TrialState.FAIL
    reached = int(rows["training_iteration"].max())
    if state in (FINISHED, STOPPED, FAILED):
        return TrialState.COMPLETE if reached >= max_epochs else TrialState.PRUNED
    return TrialState.RUNNING


def epochs_of(rows: pd.DataFrame | None, metric: str) -> tuple[dict[int, float], datetime]:
    """A trial's finite ``metric`` by epoch, and when its last epoch was logged."""
    if rows is None or metric not in rows:
        return {}, datetime.now()
    values = pd.to_numeric(rows[metric], errors="coerce")
    steps = rows["training_iteration"].astype(int)
    by_epoch = {int(s): float(v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)}
    stamp = pd.to_numeric(rows["timestamp"], errors="coerce") if "timestamp" in rows else None
    end = stamp.max() if stamp is not None and stamp.notna().any() else None
    return by_epoch, datetime.fromtimestamp(float(end)) if end is not None else datetime.now()


def start_of(rows: pd.DataFrame | None) -> datetime | None:
    if rows is None or "timestamp" not in rows:
        return None
    first = rows.iloc[0]
    seconds = float(first["timestamp"]) - float(first.get("time_this_iter_s", 0) or 0)
    return datetime.fromtimestamp(seconds) if math.isfinite(seconds) else None


def logged_config(row: pd.Series) -> Config:
    """A logged candidate's config, its trial seed aside, as plain Python values."""
    return {
        key.removeprefix("config/"): value.item() if hasattr(value, "item") else value
        for key, value in row.items()
        if key.startswith("config/") and key != "config/seed" and not pd.isna(value)
    }


def absent(path: str) -> str | None:
    """Why the journal at ``path`` holds nothing (missing, empty), or None where it holds some."""
    if not storage.exists(path):
        return "it is missing"
    return None if storage.read_bytes(path) else "it is empty"


def damage(experiment: Experiment) -> tuple[str, Logged, SearchSpace, dict] | None:
    """Why the study of the search at ``experiment`` does not hold what its logs do (damaged, or
    missing though Tune saved a searcher), with the logs, the space and the run's options; None
    where it does, or where there is no study to hold (a URI keeps it in the searcher's
    snapshot; a folder that is not a search, or one made before the study was kept)."""
    location, run = experiment.location, experiment.run
    if storage.is_uri(location) or run.get("space") not in SPACES:
        return None
    path, options = storage.join(location, STUDY), {"space": run["space"], **ran_with(run)}
    searched = any("/searcher-state-" in f for f in storage.files(location))
    if not storage.exists(path) and not searched:
        return None
    space = space_for_run(options)
    logged = Logged(experiment, int(options.get("seed") or 0))
    why = disagreement(experiment.study, logged, fixed=space.fixed)
    return None if why is None else (absent(path) or why, logged, space, options)


def study_for_reports(experiment: Experiment) -> str | None:
    """Where the study of the search at ``experiment`` is damaged (``damage``), put one rebuilt
    from its logs into ``experiment.study`` (in memory: the file is left as it is, a search may
    be writing it); the sentence that says so, or None."""
    if (found := damage(experiment)) is None:
        return None
    why, logged, space, options = found
    location = experiment.location
    path = storage.join(location, STUDY)
    sizes = tuple(objective_names(options.get("objectives"))[1:])
    try:
        trials = rebuilt_trials(logged, space, int(options.get("max_epochs") or 1), sizes)
    except CannotRebuild as e:
        return f"{path}: {why}, and it cannot be rebuilt from the trials' logs ({e})"
    study = optuna.create_study(directions=directions(space, sizes))
    study.add_trials(trials)
    experiment.study = study
    experiment.problems = tuple(p for p in experiment.problems if not p.startswith(path))
    storage_path, name = location.rsplit("/", 1)
    return (
        f"{path}: {why}; the reports read a study rebuilt from {logged.describe()}; resume "
        f"the search (nas.run --storage {storage_path} --name {name} --resume) to write it back"
    )
