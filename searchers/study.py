"""The search's Optuna study made to agree with what happened: with the trials' logs at the end
of a run (``agree_with_the_logs``), and with Tune's snapshot after a kill (``rewrite``,
``reopened``, used by ``FeasibleSearch``'s settling)."""

from __future__ import annotations

import math
import os
from datetime import datetime
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from experiment.journal import EPOCHS, TUNE_TRIAL_ID, epochs, journal_storage
from experiment.results import Experiment
from experiment.trials import FAILED, FINISHED, RUNNING, STOPPED


def rewrite(journal: str, study: optuna.Study, trials: list[FrozenTrial]) -> None:
    """Replace ``study``'s journal file with one holding ``trials`` (numbered in order)."""
    directions = [direction.name.lower() for direction in study.directions]
    write_journal(journal, study.study_name, directions, trials)


def write_journal(journal: str, name: str, directions: list[str], trials: list[FrozenTrial]):
    """Write the journal file ``journal`` whole: study ``name`` holding ``trials`` in order."""
    settling = f"{journal}.settling"
    Path(settling).unlink(missing_ok=True)
    into = optuna.create_study(
        study_name=name, storage=journal_storage(settling), directions=directions
    )
    into.add_trials(trials)
    os.replace(settling, journal)


def agree_with_the_logs(
    experiment: Experiment, journal: str, metric: str, sizes: tuple[str, ...] = ()
) -> int:
    """Make the study hold what the trials logged, at the end of a run: each trial's metric at
    every epoch in its ``result.json`` and the end the reports show (finished: complete at its
    last epoch's value, and its ``sizes`` in a Pareto search; stopped early: pruned there, as
    Optuna keeps it; unfinished: running; failed: failed, unless the study has it ended
    otherwise, as a trial whose loss went NaN is told at its score of 0 so that the searcher
    learns the region is bad). Returns the trials mended (the journal is rewritten whole where
    any; each trial keeps its times).

    The searcher is told a trial's epochs as Tune hands them over, and Tune's graceful stop
    (Ctrl-C, SIGTERM) can leave the last one untold: a trial whose final epoch was logged just
    as the stop came ends, after ``--resume``, with that epoch in its logs but not in the study
    (or told as pruned at the epoch before). The logs are what happened.
    """
    study = experiment.study
    if study is None or metric not in experiment.epochs:
        return 0
    ends = {FINISHED: TrialState.COMPLETE, STOPPED: TrialState.PRUNED, FAILED: TrialState.FAIL}
    ends[RUNNING] = TrialState.RUNNING
    state_of = dict(zip(experiment.trials["Name"], experiment.trials["State"], strict=True))
    logged, measured = {}, {}
    for name, rows in experiment.epochs.groupby("Name"):
        values = pd.to_numeric(rows[metric], errors="coerce")
        steps = rows["training_iteration"].astype(int)
        logged[name] = {
            s: float(v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)
        }
        measured[name] = [float(rows[size].iloc[-1]) for size in sizes if size in rows]
    trials, mended = study.get_trials(deepcopy=False), 0
    for i, trial in enumerate(trials):
        name = f"trial_{trial.user_attrs.get(TUNE_TRIAL_ID)}"
        state, values = ends.get(state_of.get(name)), logged.get(name, {})
        if state == TrialState.FAIL and trial.state.is_finished():
            state = trial.state
        if state is None or (state == TrialState.COMPLETE and not values):
            continue
        ended = state in (TrialState.COMPLETE, TrialState.PRUNED) and values
        value = values[max(values)] if ended else None
        if sizes:  # several objectives: values when complete, the epochs in a user attribute
            figures = measured.get(name) or list(trial.values or [])[1:]
            complete = state == TrialState.COMPLETE
            if complete and len(figures) != len(sizes):  # neither logged nor told: left as is
                continue
            told = [value, *figures] if complete else None
            now = (trial.state, epochs(trial), trial.values)
        else:
            told, now = value, (trial.state, trial.intermediate_values, trial.value)
        if (state, values, told) != now:
            running = state == TrialState.RUNNING
            by_epoch = {str(step): v for step, v in values.items()}
            trials[i] = FrozenTrial(
                number=trial.number,
                state=state,
                value=None if sizes else told,
                values=told if sizes else None,
                datetime_start=trial.datetime_start,
                datetime_complete=None if running else trial.datetime_complete or datetime.now(),
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={**trial.user_attrs, EPOCHS: by_epoch} if sizes else trial.user_attrs,
                system_attrs=trial.system_attrs,
                intermediate_values={} if sizes else values,
                trial_id=-1,  # the storage numbers it, as in optuna.trial.create_trial
            )
            mended += 1
    if mended:
        rewrite(journal, study, trials)
    return mended


def reopened(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` as it was before it was told its end: running, with its epochs so far."""
    return optuna.trial.create_trial(
        state=TrialState.RUNNING,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=trial.user_attrs,
        system_attrs=trial.system_attrs,
        intermediate_values=trial.intermediate_values,
    )
