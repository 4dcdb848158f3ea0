"""Regularized evolution from the seed preset (``--searcher evolution``)."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from searchers.base import Kinds, PlannedSampler, enqueued, evaluated, standing
from searchers.optuna_compat import set_user_attr

MULTI_OBJECTIVE = False  # it compares trials on one metric


class RegularizedEvolution(PlannedSampler):
    """Regularized evolution (Real et al., 2019, "aging evolution") as an Optuna sampler.

    The population is the ``population`` trials evaluated last; the oldest leaves as a new one
    arrives. Each new candidate copies a parent and changes one or two knobs of one kind to
    another value within the space's choices (``local_move``). The parent wins a tournament
    among ``tournament`` members drawn from the population, compared by their best metric up
    to the last epoch all of them reached (a trial ASHA stopped at epoch 3 meets one that ran 9
    epochs at epoch 3). Until a trial has been evaluated, the parent is the seed preset (the
    point the search enqueued), so the first population is the seed and mutations of it;
    without one (``--no-seed-trial``), the first candidates are random. Knobs the parent lacks
    (a new block after a depth mutation) are drawn at random. Each child records ``parent`` and
    ``mutated`` as user attrs.
    """

    def __init__(
        self,
        population: int,
        tournament: int,
        seed: int,
        fixed: Sequence[str] = (),
        kinds: Kinds | None = None,
    ):
        super().__init__(seed, fixed, kinds)
        self.population, self.tournament = population, tournament
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._plans: dict[int, dict] = {}  # trial number -> the child's planned params

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:  # an enqueued point (the seed preset)
            return
        parent = self._parent(study)
        if parent is None:
            return
        plan, mutated = self._move(parent)
        self._plans[trial.number] = plan
        set_user_attr(study, trial, "parent", parent.number)
        set_user_attr(study, trial, "mutated", mutated)

    def sample_independent(self, study, trial, param_name, param_distribution):
        plan = self._plans.get(trial.number, {})
        if self._in_plan(plan, param_name, param_distribution):
            return plan[param_name]
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._plans.pop(trial.number, None)

    def _parent(self, study: optuna.Study) -> FrozenTrial | None:
        members = evaluated(study)[-self.population :]
        if not members:  # the seed preset (an enqueued point) if the search has one
            return enqueued(study)
        drawn = self._rng.sample(members, min(self.tournament, len(members)))
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        return standing(drawn, maximize, eta=len(drawn))[0]


def make(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    population = min(20, max(4, num_samples // 4))
    return RegularizedEvolution(population, max(2, population // 3), seed, fixed, kinds)
