"""Random sampling of the space (``--searcher random``): the baseline every searcher is
compared with."""

from __future__ import annotations

import optuna

MULTI_OBJECTIVE = True  # sampling needs no objective


def make(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)
