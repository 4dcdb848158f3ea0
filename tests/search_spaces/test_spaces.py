from __future__ import annotations

import optuna
import pytest

from search_spaces import SPACES, get_space


@pytest.mark.parametrize("name", sorted(SPACES))
def test_space_is_complete(name):
    space = SPACES[name]
    assert space.name == name and space.description
    assert "seed" in space.presets
    spec, settings = space.decode(space.presets["seed"])
    assert settings.lr > 0 and settings.batch_size > 0
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        space.decode(space.sample(study.ask()))  # every draw decodes
    asha = space.asha
    assert 1 <= asha.grace_period <= asha.max_epochs and asha.reduction_factor >= 2


def test_searched_knobs_of_cifar_space():
    space = get_space("cifar_lt200k")
    trial = optuna.create_study().ask()
    config = space.sample(trial)
    searched = {"depth", "width_0", "expansion_0", "dilation_0", "downsample", "norm", "dropout"}
    searched |= {"lr", "label_smoothing", "t0", "t_mult", "weight_decay", "batch_size"}
    assert searched <= set(config)
    assert trial.distributions["lr"].log


def test_decode_rejects_unknown_and_missing_keys():
    space = get_space("cifar_lt200k")
    with pytest.raises(ValueError, match="unknown config keys: momentum_typo"):
        space.decode({**space.presets["seed"], "momentum_typo": 0.9})
    broken = dict(space.presets["seed"])
    del broken["width_3"]
    with pytest.raises(ValueError, match="missing 'width_3'"):
        space.decode(broken)


def test_unknown_space_lists_known_ones():
    with pytest.raises(KeyError, match="known spaces: cifar_lt200k"):
        get_space("cifar_lt2M")
