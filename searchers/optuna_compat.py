"""Every use of Optuna's private API, in one place; ``tests/nas/test_compat.py`` pins what each
relies on, so an Optuna upgrade that changes one fails there first, not in a search.

A sampler's hooks (``before_trial``) and a Tune searcher's result hook hold a ``FrozenTrial``,
not the ``optuna.Trial`` whose public ``set_user_attr`` and ``report`` write through the study's
storage; building an ``optuna.Trial`` there would run the sampler's ``before_trial`` again (the
evolution sampler would re-plan a running child). So they write through the storage, as
``optuna.Trial`` itself does.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial


def set_user_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def set_intermediate_value(study: optuna.Study, trial: FrozenTrial, step: int, value: float):
    study._storage.set_trial_intermediate_value(trial._trial_id, step, value)


def admits(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is one ``distribution`` can hold (a choice of a categorical, a number in
    range on a step's grid); a categorical's ``to_internal_repr`` raises for a value not among
    its choices."""
    try:
        return distribution._contains(distribution.to_internal_repr(value))
    except ValueError:
        return False


TPE_JOINT_DRAW = "tpe:relative_params"  # TPE's note of a trial's joint draw, in chunks :0, :1...


def forget_unused_draws(study: optuna.Study, trial: optuna.Trial) -> None:
    """Make multivariate TPE read a running trial by the knobs it uses, as it reads a finished
    one: its note of the trial's joint draw also holds knobs the trial never came to use (a
    fifth block's for a network of four), which no log keeps, so a study rebuilt from the logs
    (``searchers.rebuild``) could not lie about them alike. An empty first chunk ends the
    note (TPE then takes the trial's own parameters)."""
    attrs = study._storage.get_trial_system_attrs(trial._trial_id)
    for key in attrs:
        if key.startswith(f"{TPE_JOINT_DRAW}:"):
            value = "{}" if key.endswith(":0") else ""
            study._storage.set_trial_system_attr(trial._trial_id, key, value)


def generations(sampler: optuna.samplers.BaseSampler) -> tuple[str, int] | None:
    """Where a genetic sampler (NSGA-II) keeps each trial's generation (a system attribute),
    and its population size; None for a sampler without generations."""
    if not isinstance(sampler, optuna.samplers.NSGAIISampler):
        return None
    return sampler._get_generation_key(), sampler._population_size
