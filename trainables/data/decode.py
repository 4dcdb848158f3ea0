"""Face images read from disk: decoded into rows of a cache, or checked, naming a bad file.

Imports numpy and PIL only, since ``trainables.data.hw2p2`` runs ``decode_chunk`` in spawned
processes: each one imports this module alone (a fraction of a second), not torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainables.data import DataError

UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError)


def decode_chunk(partial: str, size: int, start: int, paths: list[Path]) -> int:
    """Decode ``paths`` into rows ``start...`` of the cache being built; returns their count."""
    out = np.load(partial, mmap_mode="r+")
    for i, path in enumerate(paths, start):
        try:
            with Image.open(path) as image:
                out[i] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
        except UNREADABLE as e:
            raise unreadable(path, e) from None
    out.flush()
    return len(paths)


def check_image(path: Path) -> None:
    """Raise DataError naming ``path`` unless its header reads as an image."""
    try:
        with Image.open(path) as image:
            image.verify()
    except UNREADABLE as e:
        raise unreadable(path, e) from e


def unreadable(path: Path, error: BaseException) -> DataError:
    return DataError(f"HW2P2 data: {path} is not a readable image ({error}).")
