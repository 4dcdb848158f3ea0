"""Optuna's NSGA-II (``--searcher nsga2``): generations bred from the non-dominated trials,
spread along the front by crowding distance (Deb et al. 2002)."""

from __future__ import annotations

import optuna

MULTI_OBJECTIVE = True


def make(seed, num_samples, fixed, prior, kinds) -> optuna.samplers.BaseSampler:
    # A generation a quarter of the search (4 to 50): a short search still breeds a few times.
    population = min(50, max(4, num_samples // 4))
    return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
