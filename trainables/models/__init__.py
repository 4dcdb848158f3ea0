"""Model families, registered by name.

Each family is one file holding a frozen spec dataclass (JSON-able: ints, floats, strings and
tuples) and the builder that turns it into an ``nn.Module``. Named variants are presets: dicts
of spec keyword arguments, never subclasses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from trainables.registry import Registry


class ModelSpec(Protocol):
    """What every family's spec is: a frozen dataclass of JSON-able fields, with these."""

    num_classes: int
    image_size: int  # pixels per side of the input

    def problems(self) -> list[str]: ...  # why it cannot be built; [] when it can


class Network(Protocol):
    """What every family's model offers besides ``forward``: the pooled features before the
    classifier (verification embeds with them)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...
    def forward_features(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class ModelFamily:
    spec: type  # the family's ModelSpec dataclass; its defaults are the reference network
    build: Callable[[Any], nn.Module]  # spec -> Network


FAMILIES: Registry[ModelFamily] = Registry("model family", "model families")


def register_model(family: str, spec_cls: type):
    """Decorator: register ``builder(spec) -> nn.Module`` for ``spec_cls`` under ``family``."""

    def wrap(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        FAMILIES.add(family, ModelFamily(spec_cls, builder))
        return builder

    return wrap


def model_families() -> list[str]:
    """Names of the registered model families."""
    return sorted(FAMILIES)


def spec_class(family: str) -> type:
    """The spec dataclass of ``family``; its defaults describe the family's reference network."""
    return FAMILIES.named(family).spec


def family_of(spec: ModelSpec) -> str:
    """The registered family name of ``spec``."""
    for name, family in FAMILIES.items():
        if type(spec) is family.spec:
            return name
    raise KeyError(f"no model family registered for {type(spec).__name__}")


def create_model(spec: ModelSpec) -> nn.Module:
    """Build the ``nn.Module`` described by ``spec``; ValueError naming what cannot be built."""
    family = FAMILIES[family_of(spec)]
    problems = spec.problems()
    if problems:
        raise ValueError(f"invalid {type(spec).__name__}: {'; '.join(problems)}")
    return family.build(spec)


def stage_problems(
    layers: tuple[int, ...], widths: tuple[int, ...], image_size: int, smallest: int
) -> list[str]:
    """Checks shared by the staged families: one width per stage, blocks, a big enough input."""
    found = []
    if len(layers) != len(widths):
        found.append("layers and widths need one entry per stage")
    if min(layers, default=0) < 1:
        found.append("every stage needs at least one block")
    if image_size < smallest:
        found.append(f"a {image_size}px input is too small for {len(layers)} stages")
    return found


def spec_from_dict(family: str, values: dict[str, Any]) -> Any:
    """Rebuild a spec from ``spec_to_dict`` output (lists become tuples); rejects unknown keys."""
    spec_cls = spec_class(family)
    known = {f.name for f in dataclasses.fields(spec_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {family} spec keys: {', '.join(unknown)}")
    return spec_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """The spec as a JSON-able dict (with its family), for checkpoints and result files."""
    return {"family": family_of(spec), **dataclasses.asdict(spec)}


from trainables.models import cifar_net, convnext, resnet  # noqa: E402,F401  (register families)
