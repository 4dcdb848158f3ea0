"""Images at rest as uint8, normalised one batch at a time on the device that uses the batch.

A face set at 224 px is 150 KB an image as uint8 and four times that as float32: the dev split of
HW2P2 (35,000 images) is 5 GB as uint8, 21 GB as float. So evaluation, verification and
prediction keep the uint8 pixels (an array, a memory-mapped cache, or a tensor already on the
device) and normalise each batch after it reaches the device.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from trainables.data.augment import ChannelStats
from trainables.data.memmap import read_range


def normalize(pixels: torch.Tensor, stats: ChannelStats) -> torch.Tensor:
    """N x H x W x C uint8 pixels -> normalised float N x C x H x W on the pixels' device.

    The result is channels_last in memory (a view of the NHWC layout), as the models run.
    """
    shape = (1, -1, 1, 1)
    mean = torch.tensor(stats.mean, device=pixels.device).view(shape)
    std = torch.tensor(stats.std, device=pixels.device).view(shape)
    return (pixels.permute(0, 3, 1, 2).float() - mean) / std


class Images:
    def __init__(self, pixels: np.ndarray | torch.Tensor, stats: ChannelStats):
        self.pixels, self.stats = pixels, stats  # N x H x W x C uint8

    def __len__(self) -> int:
        return len(self.pixels)

    def to(self, device: torch.device) -> Images:
        """The same images kept on ``device`` (uint8), so no batch is copied from the host."""
        return Images(self._rows(0, len(self)).to(device), self.stats)

    def batch(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        """Images ``start:stop``, copied to ``device`` as uint8, normalised there."""
        return normalize(self._rows(start, stop).to(device, non_blocking=True), self.stats)

    def batches(self, device: torch.device, batch_size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self), batch_size):
            yield self.batch(start, start + batch_size, device)

    def _rows(self, start: int, stop: int) -> torch.Tensor:
        if isinstance(self.pixels, torch.Tensor):
            return self.pixels[start:stop]
        # A memory map is read from its file: only these rows become resident.
        return torch.from_numpy(read_range(self.pixels, start, stop))
