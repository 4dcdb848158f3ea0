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
