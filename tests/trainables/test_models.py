"""One contract over every space: sampled and preset architectures build, train, fit the budget."""

from __future__ import annotations

import dataclasses

import optuna
import pytest
import torch

from search_spaces import SPACES
from search_spaces.rules import check
from trainables.models import create_model, spec_from_dict, spec_to_dict
from trainables.models.cifar_net import CifarNetSpec


def feasible_specs(space, count: int, seed: int = 0):
    """``count`` feasible specs drawn at random from ``space``, plus its presets."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs = [space.decode(p)[0] for p in space.presets.values()]
    while len(specs) < count:
        trial = study.ask()
        spec, _ = space.decode(space.sample(trial))
        study.tell(trial, 0.0)
        if not check(spec, space.rules)[1]:
            specs.append(spec)
    return specs


CASES = [(name, spec) for name, s in SPACES.items() for spec in feasible_specs(s, 10)]


@pytest.mark.parametrize(("space_name", "spec"), CASES, ids=lambda x: getattr(x, "name", None))
def test_architecture_contract(space_name, spec):
    rules = SPACES[space_name].rules
    if rules.params_below is not None:  # the budget holds for the spec as searched
        assert check(spec, rules)[0].params < rules.params_below
    # Forward and backward at a small size and class count: same layers, seconds on a CPU.
    spec = dataclasses.replace(spec, image_size=min(spec.image_size, 64), num_classes=12)
    torch.manual_seed(0)
    model = create_model(spec)
    x = torch.randn(2, spec.in_channels, spec.image_size, spec.image_size)
    logits = model(x)
    assert logits.shape == (2, spec.num_classes)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not no_grad, f"parameters without gradient: {no_grad}"


def test_seed_preset_is_the_reference_network():
    model = create_model(CifarNetSpec())
    assert sum(p.numel() for p in model.parameters()) == 197_392
    shapes = {}
    hooks = [
        getattr(model.blocks[i], "transition", None) or model.blocks[i]
        for i in range(len(model.blocks))
    ]
    for i, module in enumerate(hooks):
        module.register_forward_hook(lambda m, a, out, i=i: shapes.__setitem__(i, out.shape[1:]))
    model(torch.zeros(1, 3, 32, 32))
    assert [tuple(shapes[i]) for i in range(4)] == [
        (32, 16, 16),
        (32, 8, 8),
        (32, 4, 4),
        (128, 4, 4),
    ]


def test_spec_round_trips_through_json_dict():
    spec = CifarNetSpec(widths=(16, 32, 48), expansions=(64, 64, 96), dilations=(1, 2, 3))
    assert (
        spec_from_dict("cifar_net", {k: v for k, v in spec_to_dict(spec).items() if k != "family"})
        == spec
    )


def test_unknown_spec_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown cifar_net spec keys: depth_multiplier"):
        spec_from_dict("cifar_net", {"depth_multiplier": 2})


def test_unbuildable_spec_says_why():
    spec = CifarNetSpec(widths=(16,) * 6, expansions=(32,) * 6, dilations=(2,) * 6)
    assert spec.problems() == ["a transition cannot halve a 2x2 map exactly"]
    with pytest.raises(ValueError, match="cannot halve a 2x2 map"):
        create_model(spec)
