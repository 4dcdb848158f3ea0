"""Search spaces by name: each ``search_spaces/<name>.py`` exports ``SPACE``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search_spaces import cifar_lt200k, hw2p2_resnet
from search_spaces.base import SearchSpace
from trainables.registry import Registry

SPACES: Registry[SearchSpace] = Registry("space")
for _space in (cifar_lt200k.SPACE, hw2p2_resnet.SPACE):
    SPACES.add(_space.name, _space)


def get_space(name: str) -> SearchSpace:
    """The space called ``name``; the error lists the known names."""
    return SPACES.named(name)


def space_for_run(options: Mapping[str, Any]) -> SearchSpace:
    """The space as a run searched it, from its options (``RunConfig`` fields, run.json's)."""
    input_size, classes = options.get("input_size"), options.get("num_classes")
    return get_space(options["space"]).for_run(
        metric=options.get("metric"),
        max_params=options.get("max_params"),
        knobs={"input_size": input_size} if input_size else {},
        spec={"num_classes": classes} if classes else {},
    )
