"""``faulty_cifar``: cifar_lt200k whose second and third candidates are faulty (tests only).

Importing this module registers the space; run a search with it through
``python -c "import tests.nas.fault_space ..."`` so the searcher (in the driver) sees it. The
trials themselves use cifar_lt200k's decode, which Ray's workers import as usual.
"""

from __future__ import annotations

import dataclasses

import optuna

from search_spaces import SPACES
from search_spaces.cifar_lt200k import SEED, SPACE

FAULTY = {
    1: {**SEED, "lr": 1e8},  # diverges: the loss is no longer finite within a few steps
    2: {**SEED, "batch_size": 0},  # raises: the data loader refuses a batch size of 0
}


def sample(trial: optuna.Trial) -> dict:
    config = SPACE.sample(trial)
    return FAULTY.get(trial.number, config)


SPACES.add("faulty_cifar", dataclasses.replace(SPACE, name="faulty_cifar", sample=sample))
