"""The Optuna samplers a search can use: prior-guided, TPE, regularized evolution, random.

All four run inside ``FeasibleSearch`` on one study, so they share its storage, its rule checks
(a candidate that breaks the space's rules is redrawn without spending a trial) and its reports.
A trial counts as *evaluated* once it has finished with at least one epoch reported (completed
or stopped by ASHA); rejected candidates never report an epoch, so they are never evaluated.

Lifecycle, per candidate: ``FeasibleSearch.suggest`` calls ``study.ask()``, which runs the
sampler's ``before_trial`` (where prior search and evolution decide the whole candidate), then the
space samples its knobs define-by-run (``infer_relative_search_space``/``sample_relative`` once,
``sample_independent`` per knob not sampled relatively); a rejected candidate is told at once and
another is asked. Results arrive as intermediate values; the end as ``after_trial``.

Local moves (evolution's mutations, prior search's steps from the incumbent) pick a *kind* of
knob first (the space's ``kinds``: architecture, optimiser, schedule, batch size,
regularisation), then one or two knobs of that kind, so a short search reaches the training
recipe as often as the architecture's many knobs.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from experiment.results import REJECTION
from nas.optuna_compat import admits, set_user_attr
from trainables.registry import Registry

# name -> factory(seed, num_samples, fixed, prior, kinds), in the order --searcher lists them
SAMPLERS: Registry[Callable[..., optuna.samplers.BaseSampler]] = Registry("searcher")

Kinds = Mapping[str, Sequence[str]]  # kind -> knob names; a name ending in "_" is a prefix


def evaluated(study: optuna.Study) -> list[FrozenTrial]:
    """Finished trials that trained at least one epoch, in the order they finished."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = [t for t in study.get_trials(deepcopy=False, states=states) if t.intermediate_values]
    return sorted(done, key=lambda t: (t.datetime_complete, t.number))


def make_sampler(
    name: str,
    seed: int,
    num_samples: int,
    fixed: Sequence[str] = (),
    prior: Mapping | None = None,
    kinds: Kinds | None = None,
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name``, sized for a search of ``num_samples`` trials.

    ``fixed``: knobs the run fixes (never moved); ``prior``: the space's seed preset (the prior
    search's belief); ``kinds``: the space's knob kinds (local moves pick a kind first).
    """
    return SAMPLERS.named(name)(seed, num_samples, tuple(fixed), prior, kinds)


def kind_of(name: str, kinds: Kinds | None) -> str:
    """The kind of knob ``name`` is (``"other"`` where the space names none)."""
    for kind, names in (kinds or {}).items():
        if any(name == n or (n.endswith("_") and name.startswith(n)) for n in names):
            return kind
    return "other"


def local_move(
    rng: random.Random,
    params: Mapping,
    distributions: Mapping[str, BaseDistribution],
    fixed: Sequence[str] = (),
    kinds: Kinds | None = None,
) -> tuple[dict, list[str]]:
    """``params`` with one or two knobs of one kind moved; the moved knobs' names.

    The kind is drawn first, uniformly among the kinds with a knob that can move, then one or
    two of its knobs (one where the kind has only one).
    """
    by_kind: dict[str, list[str]] = {}
    for name, distribution in distributions.items():
        if name not in fixed and not distribution.single():
            by_kind.setdefault(kind_of(name, kinds), []).append(name)
    plan = dict(params)
    if not by_kind:
        return plan, []
    names = by_kind[rng.choice(list(by_kind))]
    moved = rng.sample(names, min(len(names), rng.choice((1, 2))))
    for name in moved:
        plan[name] = mutate(rng, plan[name], distributions[name])
    return plan, sorted(moved)


def mutate(rng: random.Random, value, distribution: BaseDistribution):
    """Another value of ``distribution``: a different choice, or a step in (log) range."""
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


def standing(trials: Sequence[FrozenTrial], maximize: bool, eta: int = 3) -> list[FrozenTrial]:
    """``trials`` best first, compared at a common epoch: the highest epoch that ``eta`` of
    them reached (all of them, where fewer were evaluated), each by its best value up to it.

    Only the trials that reached that epoch are ranked (as ASHA ranks a rung): a trial stopped at
    epoch 1 meets one that ran 9 epochs at epoch 1, and does not rank at epoch 3.
    """
    if not trials:
        return []
    reached = sorted((max(t.intermediate_values) for t in trials), reverse=True)
    common = reached[min(eta, len(reached)) - 1]
    sign = 1 if maximize else -1

    def fitness(t: FrozenTrial) -> float:
        values = [v for step, v in t.intermediate_values.items() if step <= common]
        return max((sign * v for v in values if math.isfinite(v)), default=-math.inf)

    ranked = [t for t in trials if max(t.intermediate_values) >= common]
    return sorted(ranked, key=lambda t: (-fitness(t), t.number))


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
    arrives. Each new candidate copies a parent and changes one or two knobs of one kind to
    another value within the space's choices (``local_move``). The parent wins a tournament
    among ``tournament`` members drawn from the population, compared by their best metric up
    to the last epoch all of them reached (a trial ASHA stopped at epoch 3 meets one that ran 9
    epochs at epoch 3). Until a
    trial has been evaluated, the parent is the seed preset (the point the search enqueued), so
    the first population is the seed and mutations of it; without one (``--no-seed-trial``),
    the first candidates are random. Knobs the parent lacks (a new block after a depth
    mutation) are drawn at random. Each child records ``parent`` and ``mutated`` as user attrs.
    State (the generator included) pickles with the searcher, so ``--resume`` continues it.
    """

    def __init__(
        self,
        population: int,
        tournament: int,
        seed: int,
        fixed: Sequence[str] = (),
        kinds: Kinds | None = None,
    ):
        self.population, self.tournament = population, tournament
        self.fixed = tuple(fixed)  # knobs the run fixes (e.g. --input-size): never mutated
        self.kinds = kinds
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
        kinds = getattr(self, "kinds", None)  # a searcher pickled before kinds existed: none
        plan, mutated = local_move(
            self._rng, parent.params, parent.distributions, self.fixed, kinds
        )
        self._plans[trial.number] = plan
        set_user_attr(study, trial, "parent", parent.number)
        set_user_attr(study, trial, "mutated", mutated)

    def sample_independent(self, study, trial, param_name, param_distribution):
        plan = self._plans.get(trial.number, {})
        if param_name in plan:
            value = plan[param_name]
            if admits(param_distribution, value):
                return value
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._plans.pop(trial.number, None)

    def _parent(self, study: optuna.Study) -> FrozenTrial | None:
        members = evaluated(study)[-self.population :]
        if not members:  # the seed preset (an enqueued point) if the search has one
            return _enqueued(study)
        drawn = self._rng.sample(members, min(self.tournament, len(members)))
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        return standing(drawn, maximize, eta=len(drawn))[0]


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


class PriorGuided(optuna.samplers.BaseSampler):
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
        self.prior, self.startup = dict(prior), startup
        self.fixed, self.kinds, self.belief, self.eta = tuple(fixed), kinds, belief, eta
        self._rng = random.Random(seed)
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
        incumbent = ranked[0] if ranked else _enqueued(study)
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
            plan, moved = local_move(
                self._rng, incumbent.params, incumbent.distributions, self.fixed, self.kinds
            )
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
        if param_name in plan:
            value = plan[param_name]
            if admits(param_distribution, value):
                return value
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


def _enqueued(study: optuna.Study) -> FrozenTrial | None:
    """The point the search enqueued first (the seed preset), once it has been asked."""
    trials = study.get_trials(deepcopy=False)
    return next((t for t in trials if "fixed_params" in t.system_attrs and t.params), None)


def startup_length(num_samples: int) -> int:
    """Random (or prior) candidates before a model: a quarter of the search, 3 to 10."""
    return min(10, max(3, num_samples // 4))


@SAMPLERS.register("prior")
def prior_search(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    if prior is None:
        raise ValueError("the prior searcher needs a prior: the space's seed preset")
    return PriorGuided(prior, seed, startup_length(num_samples), fixed, kinds)


@SAMPLERS.register("tpe")
def tpe(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    return FeasibleStartTPE(startup=startup_length(num_samples), seed=seed)


@SAMPLERS.register("evolution")
def evolution(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    population = min(20, max(4, num_samples // 4))
    return RegularizedEvolution(population, max(2, population // 3), seed, fixed, kinds)


@SAMPLERS.register("random")
def random_search(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)
