"""Optuna's TPE, its random start-up counted in evaluated trials (``--searcher tpe``)."""

from __future__ import annotations

import warnings

import optuna

from searchers.base import evaluated, startup_length

MULTI_OBJECTIVE = True  # TPE's multi-objective mode


class FeasibleStartTPE(optuna.samplers.TPESampler):
    """TPE whose random start-up lasts until ``startup`` trials have been *evaluated*.

    Optuna's own start-up counts every finished trial, so candidates rejected by the space's
    rules (told at once, never trained) would end it after a few real trials. Concurrent
    suggestions use the constant liar: a running trial counts as a bad result where it lies, so
    two trials started together are not drawn from the same spot.
    """

    def __init__(self, startup: int, seed: int, pareto_startup: int | None = None):
        # group: the per-block knobs exist only for some depths; TPE models each set of knobs
        # that occur together jointly instead of falling back to one-at-a-time.
        with warnings.catch_warnings():  # Optuna marks group experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(
                n_startup_trials=0, seed=seed, multivariate=True, group=True, constant_liar=True
            )
        self.startup = startup
        self.pareto_startup = startup if pareto_startup is None else pareto_startup
        self._start = optuna.samplers.RandomSampler(seed=seed)
        self._decided: tuple[int, bool] = (-1, True)  # (trial number, starting) of the last ask

    def _starting(self, study: optuna.Study) -> bool:
        several = len(study.directions) > 1  # a Pareto search: its own start-up
        # getattr: a sampler pickled before Pareto searches has no pareto_startup
        startup = getattr(self, "pareto_startup", self.startup) if several else self.startup
        return len(evaluated(study)) < startup

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


def make(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    return FeasibleStartTPE(
        startup=startup_length(num_samples),
        seed=seed,
        pareto_startup=startup_length(num_samples, objectives=2),
    )
