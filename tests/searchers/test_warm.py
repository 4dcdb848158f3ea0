"""Warm start: an earlier study's trials as knowledge of a new search (``searchers.warm``)."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from experiment.journal import EPOCHS, REJECTION, TUNE_TRIAL_ID
from search_spaces import get_space
from searchers.feasible import FeasibleSearch
from searchers.warm import WARM_START, best_configs, knowledge

SPACE = get_space("cifar_lt200k")


def earlier_trials() -> list[optuna.trial.FrozenTrial]:
    """An earlier search of 3 epochs: finished, stopped at epoch 1, failed, running, rejected."""
    study = optuna.create_study(direction="maximize")
    seed = SPACE.preset("seed")
    study.enqueue_trial(seed)
    trial = study.ask()
    SPACE.sample(trial)
    params, distributions = trial.params, trial.distributions
    study.tell(trial, state=TrialState.FAIL)  # only to learn the seed preset's parameters

    def add(state, by_epoch, value=None, **attrs):
        study.add_trial(
            optuna.trial.create_trial(
                state=state, value=value, params=params, distributions=distributions,
                intermediate_values=by_epoch, user_attrs={TUNE_TRIAL_ID: "abc", **attrs},
            )
        )  # fmt: skip

    add(TrialState.COMPLETE, {1: 0.30, 2: 0.40, 3: 0.45}, 0.45)
    add(TrialState.PRUNED, {1: 0.20})
    add(TrialState.FAIL, {})
    add(TrialState.RUNNING, {1: 0.25})
    add(TrialState.COMPLETE, {}, 0.0, **{REJECTION: {"reasons": ["too big"], "params": 9e5}})
    return study.get_trials()[1:]


def test_an_earlier_trial_counts_at_its_last_epoch_and_failed_ones_carry_nothing():
    carried = knowledge(earlier_trials(), "old", SPACE, max_epochs=3)
    assert [t.state for t in carried] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    finished, stopped, rejected = carried
    assert finished.value == 0.45 and finished.intermediate_values == {1: 0.30, 2: 0.40, 3: 0.45}
    assert stopped.intermediate_values == {1: 0.20}  # pruned at epoch 1, as TPE ranks it
    assert rejected.value == 0.0 and REJECTION in rejected.user_attrs
    assert [t.user_attrs[WARM_START] for t in carried] == [
        "old#1",
        "old#2",
        "old#5",
    ]  # its numbers there
    assert all(TUNE_TRIAL_ID not in t.user_attrs for t in carried)  # not a trial here
    assert carried[0].params == earlier_trials()[0].params  # the same configuration


def test_another_max_epochs_moves_where_an_earlier_trial_counts():
    shorter = knowledge(earlier_trials(), "old", SPACE, max_epochs=2)
    assert shorter[0].state == TrialState.COMPLETE and shorter[0].value == 0.40  # at epoch 2
    longer = knowledge(earlier_trials(), "old", SPACE, max_epochs=10)
    assert longer[0].state == TrialState.PRUNED  # ran 3 of 10 epochs: stopped there


def test_a_pareto_search_is_told_each_earlier_trials_sizes():
    finished, _, rejected = knowledge(earlier_trials(), "old", SPACE, 3, sizes=("params",))
    assert finished.values == [0.45, 197_392.0]  # the seed preset's parameters, analysed
    assert finished.user_attrs[EPOCHS] == {"1": 0.30, "2": 0.40, "3": 0.45}
    assert rejected.values == [0.0, 9e5]


def test_a_warm_started_search_holds_the_knowledge_first_and_trains_the_best_first():
    carried = knowledge(earlier_trials(), "old", SPACE, max_epochs=3)
    top = best_configs(carried, SPACE, 1)
    assert top == [SPACE.sample(optuna.trial.FixedTrial(carried[0].params))]
    search = FeasibleSearch(SPACE, "tpe", seed=0, max_epochs=3, warm_start=carried,
                            points_to_evaluate=top)  # fmt: skip
    config = search.suggest("t0")
    assert {k: config[k] for k in top[0]} == top[0]  # the earlier best, first
    trials = search.study.get_trials()
    assert [WARM_START in t.user_attrs for t in trials] == [True, True, True, False]
    assert trials[3].user_attrs[TUNE_TRIAL_ID] == "t0" and trials[3].number == 3
