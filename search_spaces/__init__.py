"""Search spaces by name: each ``search_spaces/<name>.py`` exports ``SPACE``."""

from __future__ import annotations

from search_spaces import cifar_lt200k, hw2p2_resnet
from search_spaces.base import SearchSpace

SPACES: dict[str, SearchSpace] = {s.name: s for s in (cifar_lt200k.SPACE, hw2p2_resnet.SPACE)}


def get_space(name: str) -> SearchSpace:
    """The space called ``name``; the error lists the known names."""
    try:
        return SPACES[name]
    except KeyError:
        raise KeyError(
            f"unknown space {name!r}; known spaces: {', '.join(sorted(SPACES))}"
        ) from None
