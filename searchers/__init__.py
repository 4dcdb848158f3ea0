"""The search engine: how candidates are proposed, rejected and stopped.

- ``feasible``: ``FeasibleSearch``, the Ray Tune searcher over an Optuna study that never starts
  a candidate breaking the space's rules; ``study``: the study made to agree with the trials'
  logs.
- The samplers, one module each, over what they share (``base``): ``prior``, ``tpe``,
  ``evolution``, ``random``, ``nsga2``; registered here by name (``SAMPLERS``, the order
  ``--searcher`` lists them); ``MULTI_OBJECTIVE``: those that search several objectives.
- ``pareto``: non-dominated sorting and crowding; ``rungs``: ASHA with fair rungs and a
  protected seed preset, and its multi-objective form (``ParetoASHA``).
- ``optuna_compat``, ``ray_compat``: every private touch of Optuna and of Ray.

Lifecycle, per candidate: ``FeasibleSearch.suggest`` calls ``study.ask()``, which runs the
sampler's ``before_trial`` (where prior search and evolution decide the whole candidate), then the
space samples its knobs define-by-run (``infer_relative_search_space``/``sample_relative`` once,
``sample_independent`` per knob not sampled relatively); a rejected candidate is told at once and
another is asked. Results arrive as intermediate values; the end as ``after_trial``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import optuna

from searchers import evolution, nsga2, prior, random, tpe
from searchers.base import Kinds
from trainables.registry import Registry

_MODULES = (prior, tpe, evolution, random, nsga2)  # in the order --searcher lists them
# name -> factory(seed, num_samples, fixed, prior, kinds)
SAMPLERS: Registry[Callable[..., optuna.samplers.BaseSampler]] = Registry("searcher")
for _module in _MODULES:
    SAMPLERS.add(_module.__name__.rpartition(".")[2], _module.make)
# The samplers that search several objectives at once (a Pareto search, --objectives).
MULTI_OBJECTIVE = [m.__name__.rpartition(".")[2] for m in _MODULES if m.MULTI_OBJECTIVE]


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
