"""What the samplers share: the trials evaluated so far, the incumbent at a common epoch,
kind-first local moves and a sampler whose state is seeded.

A trial counts as *evaluated* once it has finished with at least one epoch reported (completed
or stopped by ASHA); rejected candidates never report an epoch, so they are never evaluated.

Local moves (evolution's mutations, prior search's steps from the incumbent) pick a *kind* of
knob first (the space's ``kinds``: architecture, optimiser, schedule, batch size,
regularisation), then one or two knobs of that kind, so a short search reaches the training
recipe as often as the architecture's many knobs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from experiment.journal import epochs
from searchers.optuna_compat import admits

Kinds = Mapping[str, Sequence[str]]  # kind -> knob names; a name ending in "_" is a prefix


def evaluated(study: optuna.Study) -> list[FrozenTrial]:
    """Finished trials that trained at least one epoch, in the order they finished."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = [t for t in study.get_trials(deepcopy=False, states=states) if epochs(t)]
    return sorted(done, key=lambda t: (t.datetime_complete, t.number))


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


def enqueued(study: optuna.Study) -> FrozenTrial | None:
    """The point the search enqueued first (the seed preset), once it has been asked."""
    trials = study.get_trials(deepcopy=False)
    return next((t for t in trials if "fixed_params" in t.system_attrs and t.params), None)


def startup_length(num_samples: int, objectives: int = 1) -> int:
    """Random (or prior) candidates before a model: a quarter of the search, 3 to 10. With
    several objectives 30%, 3 to 30: a front is found by covering its sizes, and the Pareto lab
    (``bench/pareto_lab.py``, docs/benchmarks.md) found TPE's front wider after 30 random
    evaluations of 100 than after 10."""
    if objectives > 1:
        return min(30, max(3, int(num_samples * 0.3)))
    return min(10, max(3, num_samples // 4))


class PlannedSampler(optuna.samplers.BaseSampler):
    """A sampler that decides a whole candidate in ``before_trial`` (a *plan*: knob -> value)
    from its own seeded generator, and samples each knob from that plan.

    ``fixed``: knobs the run fixes (e.g. --input-size), never moved; ``kinds``: the space's knob
    kinds, for local moves. The generator and the plans pickle with the searcher, so
    ``--resume`` continues where the search was.
    """

    def __init__(self, seed: int, fixed: Sequence[str] = (), kinds: Kinds | None = None):
        self.fixed, self.kinds = tuple(fixed), kinds
        self._rng = random.Random(seed)

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def _move(self, parent: FrozenTrial) -> tuple[dict, list[str]]:
        """``parent``'s knobs with one or two of one kind moved (``local_move``)."""
        kinds = getattr(self, "kinds", None)  # a sampler pickled before kinds existed: none
        return local_move(self._rng, parent.params, parent.distributions, self.fixed, kinds)

    @staticmethod
    def _in_plan(plan: Mapping, name: str, distribution: BaseDistribution) -> bool:
        """Whether ``plan`` has a value of knob ``name`` that its distribution admits (not a
        knob the plan lacks, as a new block after a depth move)."""
        return name in plan and admits(distribution, plan[name])
