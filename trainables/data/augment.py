"""Albumentations pipelines for training, and the fixed normalisation used for evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from trainables.data.memmap import read_range


@dataclass(frozen=True)
class ChannelStats:
    mean: tuple[float, ...]  # per channel, in the images' own 0-255 scale
    std: tuple[float, ...]

    @classmethod
    def of(cls, images: np.ndarray, chunk: int = 64) -> ChannelStats:
        """Mean and std per channel of N x H x W x C images (memory-mapped ones too).

        Summed a chunk of images at a time, read from the file of a memory map: a float copy of
        a whole face set at 224 px would not fit in memory.
        """
        channels = images.shape[-1]
        total, squares, count = np.zeros(channels), np.zeros(channels), 0
        for start in range(0, len(images), chunk):
            pixels = read_range(images, start, start + chunk).astype(np.float64)
            pixels = pixels.reshape(-1, channels)
            total += pixels.sum(0)
            squares += np.square(pixels).sum(0)
            count += len(pixels)
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    @classmethod
    def from_dict(cls, saved: dict) -> ChannelStats:
        """Back from ``dataclasses.asdict`` after a JSON round trip (lists -> tuples)."""
        return cls(tuple(saved["mean"]), tuple(saved["std"]))


def cifar_train_transform(
    stats: ChannelStats,
    shift: float = 0.1,  # fraction of the side
    scale: float = 0.1,  # +- fraction
    rotate: float = 15.0,  # +- degrees
    hole: int = 16,  # side of the one coarse-dropout hole, pixels
) -> A.Compose:
    """Flip, shift-scale-rotate, one hole filled with the data set's mean, then normalisation."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            # albumentations 2 spells shift-scale-rotate as an Affine (ShiftScaleRotate warns).
            A.Affine(
                translate_percent=(-shift, shift),
                scale=(1 - scale, 1 + scale),
                rotate=(-rotate, rotate),
                fill=stats.mean,
                p=0.5,
            ),
            A.CoarseDropout(
                num_holes_range=(1, 1),
                hole_height_range=(hole, hole),
                hole_width_range=(hole, hole),
                fill=stats.mean,
                p=0.5,
            ),
            A.Normalize(mean=stats.mean, std=stats.std, max_pixel_value=1.0),
        ]
    )


class AugmentedImages(Dataset):
    """HWC uint8 images and labels passed through an albumentations pipeline per sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: A.Compose):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.transform(image=self.images[i])["image"]
        return torch.from_numpy(image.transpose(2, 0, 1).copy()), int(self.labels[i])


def face_train_transform(stats: ChannelStats) -> A.Compose:
    """The HW2P2 reference recipe: flip, rotation up to 12 degrees, grayscale (p=0.1), colour
    jitter 0.2, random erasing of 10% of the image (p=0.5), normalisation."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Rotate(limit=12, p=1.0),
            A.ToGray(p=0.1),
            A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.0, p=1.0),
            A.Erasing(scale=(0.1, 0.1), fill=0, p=0.5),
            A.Normalize(mean=stats.mean, std=stats.std, max_pixel_value=1.0),
        ]
    )
