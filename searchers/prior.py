"""Prior-guided search around the seed preset (``--searcher prior``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial

from experiment.journal import REJECTION
from searchers.base import Kinds, PlannedSampler, enqueued, evaluated, standing, startup_length
from searchers.optuna_compat import set_user_attr
from searchers.tpe import FeasibleStartTPE

MULTI_OBJECTIVE = False  # it compares trials on one metric


@dataclass(frozen=True)
class Belief:
    """How sure a prior is of each of its values (the default: fairly sure)."""

    categorical: float = 0.75  # chance that a categorical knob keeps the centre's value
    spread: float = 0.15  # a numeric knob's standard deviation, as a fraction of its (log) range

    def __post_init__(self):
        if not (0 < self.categorical < 1 and self.spread > 0):
            raise ValueError(
                f"a belief needs 0 < categorical < 1 and spread > 0 (got {self.categorical}, "
                f"{self.spread}): a certain prior could never be left"
            )


class PriorGuided(PlannedSampler):
    """Prior-guided search (piBO, Hvarfner et al. 2022; PriorBand, Mallik et al. 2023).

    The space's seed preset is the prior: each categorical knob keeps the preset's value with
    ``belief.categorical`` and takes another choice otherwise; each numeric knob is a normal
    around the preset's value, in log scale where the knob is, ``belief.spread`` of its range
    wide, cut to the range. Knobs the preset lacks (a fifth block) are uniform.

    Each candidate comes from one of three *arms*, drawn with weights that move as evaluations
    come in (``weights``), PriorBand's schedule for a trial that starts at the lowest rung (as
    every trial of an ASHA search does):

    - ``model``: half the draws, PriorBand's random share at the base rung (1 / (1 + eta^0)),
      made model-based as in PriorBand+BO: random until ``startup`` trials are evaluated, then
      Optuna's TPE on every trial so far. It is what frees a search from a misleading prior
      (``bench/searcher_lab.py``: with the model arm growing from nothing, a misleading prior
      held the search back to 0.60 points of regret at 100 evaluations, random search 0.40).
    - ``prior`` and ``incumbent`` share the other half as PriorBand splits it: the top third of
      the evaluated trials, compared at a common epoch (``standing``), are scored by their rank
      (3, 2, 1 for the top three) times their likelihood under the prior and under the same
      belief centred on the incumbent (the best of them); each arm gets its share of the two
      sums. While the seed preset leads, both centres are the preset and the split is even; a
      new leader takes most of it at once (its own likelihood counts, as in PriorBand), and
      keeps it while the trials near it stay on top. Before any evaluation the
      incumbent is the seed preset (the trial the search enqueued first), if the search has it.
    - ``incumbent`` draws are local moves (``local_move``): one or two knobs of one kind.

    A draw that breaks the space's rules is drawn again from the same arm, so these shares hold
    among the candidates that train.

    Each trial records its ``arm`` (and, for local moves, ``parent`` and ``mutated``) as user
    attrs. State (the generator and the model included) pickles with the searcher, so
    ``--resume`` continues it.
    """

    REDRAWS = 50  # rejected draws in a row from one arm before the arm is drawn again

    def __init__(
        self,
        prior: Mapping,
        seed: int,
        startup: int,
        fixed: Sequence[str] = (),
        kinds: Kinds | None = None,
        belief: Belief = Belief(),
        eta: int = 3,
    ):
        super().__init__(seed, fixed, kinds)
        self.prior, self.startup, self.belief, self.eta = dict(prior), startup, belief, eta
        self._model = FeasibleStartTPE(startup=startup, seed=seed)
        # trial number -> (arm, planned params, rejected draws of that arm just before it)
        self._plans: dict[int, tuple[str, dict, int]] = {}
        self._redraw: tuple[str, int] | None = None  # the arm of the last draw, if rejected

    def weights(self, study: optuna.Study) -> dict[str, float]:
        """The chance of each arm for the next candidate."""
        return self._weighed(study)[0]

    def _weighed(self, study: optuna.Study) -> tuple[dict[str, float], FrozenTrial | None]:
        trials = evaluated(study)
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        ranked = standing(trials, maximize, self.eta)
        incumbent = ranked[0] if ranked else enqueued(study)
        model = 0.5  # PriorBand's random share at the base rung, 1 / (1 + eta^0)
        share = 0.0
        if incumbent is not None:
            top = ranked[: max(1, len(ranked) // self.eta)] or [incumbent]
            scores = [
                [
                    math.log(len(top) - rank) + self._log_likelihood(t, centre)
                    for rank, t in enumerate(top)
                ]
                for centre in (incumbent.params, self.prior)
            ]
            near_incumbent, near_prior = (_logsumexp(s) for s in scores)
            share = 1.0 / (1.0 + math.exp(near_prior - near_incumbent))
        weights = {"prior": (1 - model) * (1 - share), "incumbent": (1 - model) * share}
        return weights | {"model": model}, incumbent

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._model.before_trial(study, trial)
        if "fixed_params" in trial.system_attrs:  # an enqueued point (the seed preset)
            return
        if self._redraw is not None:  # the arm whose last draw broke the rules draws again
            (arm, redraws), self._redraw = self._redraw, None
            incumbent = self._weighed(study)[1] if arm == "incumbent" else None
        else:  # the weights are read only for a fresh draw, not for each rejected one
            weights, incumbent = self._weighed(study)
            arm, redraws = self._rng.choices(list(weights), list(weights.values()))[0], 0
        plan: dict = {}
        attrs: dict = {"arm": arm}
        if arm == "incumbent":
            plan, moved = self._move(incumbent)
            attrs |= {"parent": incumbent.number, "mutated": moved}
        self._plans[trial.number] = (arm, plan, redraws)
        for key, value in attrs.items():
            set_user_attr(study, trial, key, value)

    def _arm(self, trial: FrozenTrial) -> tuple[str, dict]:
        return self._plans.get(trial.number, ("prior", {}, 0))[:2]

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        if self._arm(trial)[0] != "model":
            return {}
        return self._model.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict:
        if self._arm(trial)[0] != "model":
            return {}
        return self._model.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        arm, plan = self._arm(trial)
        if arm == "model":
            return self._model.sample_independent(study, trial, param_name, param_distribution)
        if self._in_plan(plan, param_name, param_distribution):
            return plan[param_name]
        return self._draw(param_distribution, self.prior.get(param_name))

    def after_trial(self, study, trial, state, values) -> None:
        self._model.after_trial(study, trial, state, values)
        arm, _, redraws = self._plans.pop(trial.number, (None, {}, 0))
        redraws += 1
        # A draw that broke the space's rules is drawn again from the same arm (up to
        # ``REDRAWS`` times), so the arms' shares hold among the candidates that train: near a
        # tight budget most prior draws are rejected, and each re-rolled arm would hand its turn
        # to the model.
        if arm is not None and REJECTION in trial.user_attrs and redraws < self.REDRAWS:
            self._redraw = (arm, redraws)

    def _draw(self, distribution: BaseDistribution, centre):
        """One value of ``distribution`` from the belief centred on ``centre`` (None: uniform)."""
        rng, belief = self._rng, self.belief
        if isinstance(distribution, CategoricalDistribution):
            choices = list(distribution.choices)
            if centre not in choices:
                return rng.choice(choices)
            others = [c for c in choices if c != centre]
            keep = not others or rng.random() < belief.categorical
            return centre if keep else rng.choice(others)
        to, back = _scale(distribution)
        if centre is None:
            u = rng.random()
        else:
            mu = _inside(to, centre)
            for _ in range(100):  # the normal cut to the range
                u = rng.gauss(mu, belief.spread)
                if 0.0 <= u <= 1.0:
                    break
            u = min(1.0, max(0.0, u))
        value, step = back(u), distribution.step
        if step is not None:  # ints, and floats on a grid
            value = distribution.low + step * round((value - distribution.low) / step)
        return min(distribution.high, max(distribution.low, value))

    def _log_likelihood(self, trial: FrozenTrial, centre: Mapping) -> float:
        """Log density of ``trial``'s knobs under the belief centred on ``centre``."""
        total = 0.0
        for name, value in trial.params.items():
            distribution = trial.distributions[name]
            if name in self.fixed or distribution.single():
                continue
            total += self._log_density(value, distribution, centre.get(name))
        return total

    def _log_density(self, value, distribution: BaseDistribution, centre) -> float:
        if isinstance(distribution, CategoricalDistribution):
            choices = list(distribution.choices)
            if centre not in choices:
                return -math.log(len(choices))
            if value == centre:
                return math.log(self.belief.categorical)
            return math.log((1 - self.belief.categorical) / (len(choices) - 1))
        if centre is None:
            return 0.0  # uniform on the scaled range [0, 1]
        to, _ = _scale(distribution)
        sigma, mu, u = self.belief.spread, _inside(to, centre), to(value)
        mass = _normal_cdf((1 - mu) / sigma) - _normal_cdf(-mu / sigma)
        return -0.5 * ((u - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi) * mass)


def _scale(distribution: FloatDistribution | IntDistribution):
    """Maps between a numeric knob's values and [0, 1] (log scale where the knob is)."""
    low, high = distribution.low, distribution.high
    if distribution.log:
        lo, span = math.log(low), math.log(high) - math.log(low)
        return (lambda v: (math.log(v) - lo) / span), (lambda u: math.exp(lo + u * span))
    span = high - low
    return (lambda v: (v - low) / span), (lambda u: low + u * span)


def _inside(to, centre) -> float:
    """A numeric centre on the [0, 1] scale, moved into the range where it lies outside."""
    try:
        return min(1.0, max(0.0, to(centre)))
    except ValueError:  # not positive, on a log scale
        return 0.0


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def make(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    if prior is None:
        raise ValueError("the prior searcher needs a prior: the space's seed preset")
    return PriorGuided(prior, seed, startup_length(num_samples), fixed, kinds)
