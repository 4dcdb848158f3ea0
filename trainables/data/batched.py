"""Batched augmentation on the device: CIFAR's, and the loaders that feed it.

The albumentations pipeline (``trainables.data.augment``) augments one image at a time on the
CPU and stays the reference; this does the same work on a whole batch with a few tensor ops:
horizontal flip (p=0.5), shift-scale-rotate (p=0.5; shift 0.1 of the side, scale +-0.1 drawn
apart for x and y, rotation +-15 degrees, border filled with the mean), one 16x16 hole filled
with the mean (p=0.5), normalisation. ``DeviceBatches`` keeps the whole training set on the
device as one uint8 tensor and yields augmented batches, so no host-to-device copy happens per
step; ``StreamedBatches`` reads uint8 batches of a set too large for that from its memory map.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from trainables.data.augment import ChannelStats
from trainables.data.memmap import read_rows


class BatchAugment:
    def __init__(
        self,
        stats: ChannelStats,
        shift: float = 0.1,  # fraction of the side
        scale: float = 0.1,  # +- fraction
        rotate: float = 15.0,  # +- degrees
        hole: int = 16,  # pixels per side of the coarse-dropout hole
        p: float = 0.5,  # probability of each of flip, affine and hole
    ):
        self.mean = torch.tensor(stats.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(stats.std).view(1, -1, 1, 1)
        self.identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])  # the affine that does nothing
        self.shift, self.scale, self.rotate, self.hole, self.p = shift, scale, rotate, hole, p

    def to(self, device: torch.device) -> BatchAugment:
        """Keep the constants on ``device``, so no batch copies them from the host."""
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        self.identity = self.identity.to(device)
        return self

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 NCHW images -> augmented, normalised float NCHW, on the images' device."""
        device = images.device
        mean, std = self.mean.to(device), self.std.to(device)
        x = images.float()
        n, _, h, w = x.shape

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator, device=device)

        def chosen() -> torch.Tensor:
            return torch.rand(n, generator=generator, device=device) < self.p

        flip = chosen().view(n, 1, 1, 1)
        x = torch.where(flip, x.flip(3), x)

        affine = chosen()
        angle = uniform(-self.rotate, self.rotate) * math.pi / 180
        # As albumentations' Affine (keep_ratio=False): x and y scales drawn independently.
        zoom_x, zoom_y = (
            uniform(1 - self.scale, 1 + self.scale),
            uniform(1 - self.scale, 1 + self.scale),
        )
        tx, ty = uniform(-self.shift, self.shift), uniform(-self.shift, self.shift)
        # affine_grid maps output to input coordinates in [-1, 1], so theta is the inverse of
        # "scale, rotate, then shift": scale^-1 @ rotation^-1 applied to (output - shift).
        cos, sin = torch.cos(angle), torch.sin(angle)
        inverse = torch.stack(
            [
                torch.stack([cos / zoom_x, sin / zoom_x], 1),
                torch.stack([-sin / zoom_y, cos / zoom_y], 1),
            ],
            1,
        )  # n x 2 x 2
        shift = torch.stack([2 * tx, 2 * ty], 1).unsqueeze(2)  # fractions of the side -> [-1, 1]
        theta = torch.cat([inverse, -(inverse @ shift)], 2)
        identity = self.identity.to(device).expand(n, 2, 3)
        theta = torch.where(affine.view(n, 1, 1), theta, identity)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x - mean, grid, mode="bilinear", align_corners=False) + mean

        hole = chosen().view(n, 1, 1)
        top = (torch.rand(n, generator=generator, device=device) * (h - self.hole + 1)).long()
        left = (torch.rand(n, generator=generator, device=device) * (w - self.hole + 1)).long()
        rows = torch.arange(h, device=device).view(1, h, 1)
        cols = torch.arange(w, device=device).view(1, 1, w)
        in_rows = (rows >= top.view(n, 1, 1)) & (rows < (top + self.hole).view(n, 1, 1))
        in_cols = (cols >= left.view(n, 1, 1)) & (cols < (left + self.hole).view(n, 1, 1))
        inside = in_rows & in_cols
        x = torch.where((inside & hole).unsqueeze(1), mean, x)
        return (x - mean) / std


class DeviceBatches:
    """The training set as one uint8 tensor on ``device``, served as augmented batches."""

    def __init__(
        self,
        images: np.ndarray,  # N x H x W x C uint8
        labels: np.ndarray,
        batch_size: int,
        augment: BatchAugment,
        device: torch.device,
    ):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        self.images = self.images.contiguous().to(device)
        self.labels = torch.from_numpy(labels).to(device)
        self.batch_size, self.augment, self.device = batch_size, augment.to(device), device
        self.generator = torch.Generator(device=device)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.labels), generator=self.generator, device=self.device)
        for i in range(0, len(order), self.batch_size):
            index = order[i : i + self.batch_size]
            yield self.augment(self.images[index], self.generator), self.labels[index]


class StreamedBatches:
    """A training set too large for the device (a face cache at 224 px is 21 GB): uint8 batches
    read from its memory map by ``workers`` loader processes (pinned for a GPU), copied to
    ``device`` and augmented there.

    The order and the augmentations come from generators reseeded every epoch, in this process:
    an epoch replays exactly after a resume, whatever the number of workers.
    """

    def __init__(
        self,
        images: np.ndarray,  # N x H x W x C uint8, usually a memory map
        labels: np.ndarray,
        batch_size: int,
        augment,  # BatchAugment or FaceAugment: (uint8 NCHW, generator) -> float NCHW
        device: torch.device,
        workers: int = 0,
    ):
        self.order = _EpochOrder(len(labels), batch_size)
        self.loader = DataLoader(
            _Rows(images, labels),
            sampler=self.order,
            batch_size=None,  # the sampler yields whole batches of rows
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=device.type == "cuda",
        )
        self.augment, self.device = augment, device
        self.generator = torch.Generator(device=device)

    def reseed(self, seed: int) -> None:
        self.order.generator.manual_seed(seed)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for pixels, labels in self.loader:
            pixels = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
            yield self.augment(pixels, self.generator), labels.to(self.device, non_blocking=True)


class _EpochOrder(Sampler):
    """Batches of row numbers in an order drawn from ``generator`` (reseeded per epoch)."""

    def __init__(self, count: int, batch_size: int):
        self.count, self.batch_size = count, batch_size
        self.generator = torch.Generator()

    def __len__(self) -> int:
        return math.ceil(self.count / self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = torch.randperm(self.count, generator=self.generator).numpy()
        for start in range(0, self.count, self.batch_size):
            yield np.sort(order[start : start + self.batch_size])  # sorted: fewer disk seeks


class _Rows(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(read_rows(self.images, rows)), torch.from_numpy(self.labels[rows])
