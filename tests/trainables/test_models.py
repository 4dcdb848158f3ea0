"""One contract over every model family, and over the architectures each space draws."""

from __future__ import annotations

import dataclasses
import functools
import json

import optuna
import pytest
import torch
import torchvision

from search_spaces import SPACES
from search_spaces.rules import check
from trainables.models import (
    create_model,
    model_families,
    spec_class,
    spec_from_dict,
    spec_to_dict,
)
from trainables.models.analysis import analyze
from trainables.models.cifar_net import CifarNetSpec
from trainables.models.convnext import ConvNeXtSpec
from trainables.models.resnet import ResNetSpec


def reference(family: str):
    """The family's reference network (its spec's defaults), shrunk to seconds on a CPU."""
    return dataclasses.replace(spec_class(family)(), image_size=64, num_classes=12)


def trains(spec) -> None:
    """Forward and backward: logits of the right shape, finite, a gradient for every parameter."""
    torch.manual_seed(0)
    model = create_model(spec)
    x = torch.randn(2, spec.in_channels, spec.image_size, spec.image_size)
    logits = model(x)
    assert logits.shape == (2, spec.num_classes)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not no_grad, f"parameters without gradient: {no_grad}"


@pytest.mark.parametrize("family", model_families())
def test_every_family_keeps_the_model_contract(family):
    spec = reference(family)
    trains(spec)
    model = create_model(spec)
    assert analyze(spec).params == sum(p.numel() for p in model.parameters())
    values = {k: v for k, v in spec_to_dict(spec).items() if k != "family"}
    assert spec_from_dict(family, json.loads(json.dumps(values))) == spec  # through trial.json
    broken = dataclasses.replace(spec, image_size=2)  # too small for any family
    with pytest.raises(ValueError, match=f"invalid {type(spec).__name__}: "):
        create_model(broken)


@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_presets_meet_their_space_rules(space_name):
    space = SPACES[space_name]
    for name, preset in space.presets.items():
        spec, _ = space.decode(preset)
        assert check(spec, space.rules)[1] == [], f"preset {name!r} breaks the rules"


DRAWS = 10


@functools.cache
def feasible_specs(space_name: str, seed: int = 0) -> list:
    """``DRAWS`` specs drawn at random from the space that meet its rules (as a search keeps)."""
    space = SPACES[space_name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs = []
    while len(specs) < DRAWS:
        trial = study.ask()
        spec, _ = space.decode(space.sample(trial))
        study.tell(trial, 0.0)
        if not check(spec, space.rules)[1]:
            specs.append(spec)
    return specs


@pytest.mark.parametrize("draw", range(DRAWS))
@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_sampled_architectures_train(space_name, draw):
    spec = feasible_specs(space_name)[draw]
    # The same layers at a small size and class count: seconds on a CPU.
    trains(dataclasses.replace(spec, image_size=min(spec.image_size, 64), num_classes=12))


def test_cifar_seed_preset_is_the_reference_network():
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


def test_face_seed_preset_is_the_reference_network():
    assert analyze(ResNetSpec()).params == 37_877_528


def test_resnet50_without_biases_matches_torchvision():
    for classes in (1000, 7000):
        ours = analyze(ResNetSpec(conv_bias=False, num_classes=classes)).params
        theirs = sum(
            p.numel() for p in torchvision.models.resnet50(num_classes=classes).parameters()
        )
        assert ours == theirs


@pytest.mark.parametrize(
    "spec",
    [
        ResNetSpec(layers=(1, 1, 1, 1), widths=(8, 16, 32, 64)),
        ConvNeXtSpec(layers=(1, 1, 1, 1), widths=(8, 16, 32, 64)),
    ],
    ids=["resnet", "convnext"],
)
def test_any_input_size_and_the_feature_layer(spec):
    model = create_model(dataclasses.replace(spec, num_classes=5)).eval()
    for size in (40, 64, 97):
        x = torch.randn(2, 3, size, size)
        assert model(x).shape == (2, 5)
        features = model.forward_features(x)
        assert features.shape == (2, model.classifier.in_features)
        assert torch.allclose(model.classifier(features), model(x), atol=1e-5)
