from __future__ import annotations

import random

import optuna
import pytest

from reports.importance import MIN_TRIALS, importance


def study_of(trials: int, reaching_epoch_3: int) -> optuna.Study:
    """A search's study: lr decides the metric, width is noise; the first ``reaching_epoch_3``
    trials went on to epoch 3 (ASHA stopped the rest at epoch 1), one candidate was rejected."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    rng = random.Random(0)
    for number in range(trials):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        trial.suggest_int("width", 8, 64)
        if number % 2:
            trial.suggest_int("width_3", 8, 64)  # a knob only some networks have
        value = 0.3 + 0.4 * (lr > 0.01) + 0.01 * rng.random()
        trial.report(value - 0.1, step=1)
        if number < reaching_epoch_3:
            trial.report(value, step=3)
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    rejected = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)})
    rejected.set_user_attr("rejected", {"reasons": ["too many params"]})
    study.tell(rejected, 0.0)
    return study


def test_importance_is_taken_at_the_highest_rung_enough_trials_reached():
    found = importance(study_of(14, reaching_epoch_3=MIN_TRIALS), "val_acc", [1, 3])
    assert (found.rung, found.trials) == (3, MIN_TRIALS)
    assert found.table["knob"].tolist()[0] == "lr"  # width is noise; width_3 not in all
    assert set(found.table["knob"]) == {"lr", "width"}
    assert found.table["importance"].sum() == pytest.approx(1.0)
    assert found.note == (
        f"What mattered (fANOVA importance of val_acc at epoch 3, over the {MIN_TRIALS} trials "
        "that reached it)"
    )
    assert found.top(1) == f"{found.note}: lr {found.table['importance'].iloc[0]:.2f}"


def test_importance_falls_back_to_a_lower_rung_and_says_when_there_are_too_few_trials():
    assert importance(study_of(14, reaching_epoch_3=3), "val_acc", [1, 3]).rung == 1
    few = importance(study_of(MIN_TRIALS - 1, reaching_epoch_3=2), "val_acc", [1, 3])
    assert few.rung is None and few.table.empty
    assert few.top() == (
        f"No importance yet: {MIN_TRIALS - 1} trials at most reached the same rung, and "
        f"{MIN_TRIALS} are needed"
    )
    assert importance(None, "val_acc", [1]).top() == (
        "No Optuna study in the experiment folder, so no importance"
    )
