"""The Optuna samplers a search can use: TPE, regularized evolution, random.

All three run inside ``FeasibleSearch`` on one study, so they share its storage, its rule checks
(a candidate that breaks the space's rules is redrawn without spending a trial) and its reports.
A trial counts as *evaluated* once it has finished with at least one epoch reported (completed
or stopped by ASHA); rejected candidates never report an epoch, so they are never evaluated.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

SAMPLERS = ("evolution", "tpe", "random")


def evaluated(study: optuna.Study) -> list[FrozenTrial]:
    """Finished trials that trained at least one epoch, in the order they finished."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = [t for t in study.get_trials(deepcopy=False, states=states) if t.intermediate_values]
    return sorted(done, key=lambda t: (t.datetime_complete, t.number))


def make_sampler(
    name: str, seed: int, num_samples: int, fixed: Sequence[str] = ()
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name``, sized for a search of ``num_samples`` trials."""
    if name == "tpe":
        return FeasibleStartTPE(startup=min(10, max(3, num_samples // 4)), seed=seed)
    if name == "evolution":
        population = min(20, max(4, num_samples // 4))
        return RegularizedEvolution(population, max(2, population // 3), seed, fixed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown searcher {name!r}; use one of {', '.join(SAMPLERS)}")


class FeasibleStartTPE(optuna.samplers.TPESampler):
    """TPE whose random start-up lasts until ``startup`` trials have been *evaluated*.

    Optuna's own start-up counts every finished trial, so candidates rejected by the space's
    rules (told at once, never trained) would end it after a few real trials. Concurrent
    suggestions use the constant liar: a running trial counts as a bad result where it lies, so
    two trials started together are not drawn from the same spot.
    """

    def __init__(self, startup: int, seed: int):
        # group: the per-block knobs exist only for some depths; TPE models each set of knobs
        # that occur together jointly instead of falling back to one-at-a-time.
        with warnings.catch_warnings():  # Optuna marks group experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(n_startup_trials=0, seed=seed, group=True, constant_liar=True)
        self.startup = startup
        self._start = optuna.samplers.RandomSampler(seed=seed)
        self._decided: tuple[int, bool] = (-1, True)  # (trial number, starting) of the last ask

    def _starting(self, study: optuna.Study) -> bool:
        return len(evaluated(study)) < self.startup

    def _starting_for(self, study: optuna.Study, trial) -> bool:
        """``_starting``, counted once per candidate rather than once per knob it samples."""
        if self._decided[0] != trial.number:
            self._decided = (trial.number, self._starting(study))
        return self._decided[1]

    def infer_relative_search_space(self, study, trial):
        if self._starting_for(study, trial):
            return {}
        return super().infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return {} if not search_space else super().sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        sampler = self._start if self._starting_for(study, trial) else super()
        return sampler.sample_independent(study, trial, param_name, param_distribution)


class RegularizedEvolution(optuna.samplers.BaseSampler):
    """Regularized evolution (Real et al., 2019, "aging evolution") as an Optuna sampler.

    The population is the ``population`` trials evaluated last; the oldest leaves as a new one
    arrives. Each new candidate copies a parent and changes one or two of its knobs to another
    value within the space's choices. The parent wins a tournament among ``tournament`` members
    drawn from the population, compared by their best metric up to the last epoch all of them
    reached (a trial ASHA stopped at epoch 3 meets one that ran 9 epochs at epoch 3). Until a
    trial has been evaluated, the parent is the seed preset (the point the search enqueued), so
    the first population is the seed and mutations of it; without one (``--no-seed-trial``),
    the first candidates are random. Knobs the parent lacks (a new block after a depth
    mutation) are drawn at random. Each child records ``parent`` and ``mutated`` as user attrs.
    State (the generator included) pickles with the searcher, so ``--resume`` continues it.
    """

    def __init__(self, population: int, tournament: int, seed: int, fixed: Sequence[str] = ()):
        self.population, self.tournament = population, tournament
        self.fixed = tuple(fixed)  # knobs the run fixes (e.g. --input-size): never mutated
        self._rng = random.Random(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._plans: dict[int, dict] = {}  # trial number -> the child's planned params

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:  # an enqueued point (the seed preset)
            return
        parent = self._parent(study)
        if parent is None:
            return
        mutable = [
            name
            for name, distribution in parent.distributions.items()
            if name not in self.fixed and not distribution.single()
        ]
        mutated = self._rng.sample(mutable, min(len(mutable), self._rng.choice((1, 2))))
        plan = dict(parent.params)
        for name in mutated:
            plan[name] = self._mutate(plan[name], parent.distributions[name])
        self._plans[trial.number] = plan
        study._storage.set_trial_user_attr(trial._trial_id, "parent", parent.number)
        study._storage.set_trial_user_attr(trial._trial_id, "mutated", sorted(mutated))

    def sample_independent(self, study, trial, param_name, param_distribution):
        plan = self._plans.get(trial.number, {})
        if param_name in plan:
            value = plan[param_name]
            if param_distribution._contains(param_distribution.to_internal_repr(value)):
                return value
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._plans.pop(trial.number, None)

    def _parent(self, study: optuna.Study) -> FrozenTrial | None:
        members = evaluated(study)[-self.population :]
        if not members:  # the seed preset (an enqueued point) if the search has one
            trials = study.get_trials(deepcopy=False)
            return next((t for t in trials if "fixed_params" in t.system_attrs), None)
        drawn = self._rng.sample(members, min(self.tournament, len(members)))
        common = min(max(t.intermediate_values) for t in drawn)
        sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1

        def fitness(t: FrozenTrial) -> float:
            values = [v for step, v in t.intermediate_values.items() if step <= common]
            finite = [sign * v for v in values if math.isfinite(v)]
            return max(finite, default=-math.inf)

        return max(drawn, key=lambda t: (fitness(t), -t.number))

    def _mutate(self, value, distribution: BaseDistribution):
        """Another value of ``distribution``: a different choice, or a step in (log) range."""
        rng = self._rng
        if isinstance(distribution, CategoricalDistribution):
            return rng.choice([c for c in distribution.choices if c != value])
        if isinstance(distribution, IntDistribution):
            step = distribution.step
            options = range(distribution.low, distribution.high + 1, step)
            return rng.choice([v for v in options if v != value])
        assert isinstance(distribution, FloatDistribution)
        low, high, log = distribution.low, distribution.high, distribution.log
        to, back = (math.log, math.exp) if log else (float, float)
        width = to(high) - to(low)
        for _ in range(100):  # a Gaussian step of a quarter of the range, kept inside it
            moved = back(to(value) + rng.gauss(0.0, width / 4))
            if low <= moved <= high and moved != value:
                return moved
        return rng.uniform(low, high)
