"""The batched (GPU) CIFAR augmentation agrees in distribution with the albumentations one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainables.data.augment import ChannelStats, cifar_train_transform
from trainables.data.batched import BatchAugment, DeviceBatches

STATS = ChannelStats(mean=(120.0, 110.0, 100.0), std=(60.0, 60.0, 60.0))
N = 600


def albumentations_batch(images: np.ndarray, **limits) -> np.ndarray:
    transform = cifar_train_transform(STATS, **limits)
    transform.set_random_seed(0)
    return np.stack([transform(image=image)["image"] for image in images])


def batched(images: np.ndarray, **limits) -> np.ndarray:
    augment = BatchAugment(STATS, **limits)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    out = augment(x, torch.Generator().manual_seed(0))
    return out.permute(0, 2, 3, 1).numpy()


BOTH = {"albumentations": albumentations_batch, "batched": batched}


@pytest.mark.parametrize("implementation", BOTH)
def test_one_16px_hole_filled_with_the_mean_half_the_time(implementation):
    images = np.full((N, 32, 32, 3), 250, dtype=np.uint8)
    out = BOTH[implementation](images, shift=0.0, scale=0.0, rotate=0.0)
    filled = np.all(np.abs(out) < 1e-4, axis=3)  # (mean - mean) / std
    sizes = filled.reshape(N, -1).sum(1)
    assert set(sizes.tolist()) == {0, 256}
    assert 0.43 < (sizes == 256).mean() < 0.57


@pytest.mark.parametrize("implementation", BOTH)
def test_flip_rate_is_one_half(implementation):
    images = np.zeros((N, 32, 32, 3), dtype=np.uint8)
    images[:, :, :8] = 255  # the left quarter bright
    out = BOTH[implementation](images, shift=0.0, scale=0.0, rotate=0.0, hole=0)
    flipped = out[:, 16, 28, 0] > out[:, 16, 3, 0]
    assert 0.43 < flipped.mean() < 0.57


def dot_positions(out: np.ndarray) -> np.ndarray:
    """Centroid (row, col) of the bright dot in each image (pixels above the mean)."""
    weight = np.clip(out[..., 0], 0, None)
    rows, cols = np.mgrid[0:32, 0:32]
    total = weight.sum((1, 2))
    return np.stack([(weight * rows).sum((1, 2)) / total, (weight * cols).sum((1, 2)) / total], 1)


@pytest.mark.parametrize("implementation", BOTH)
def test_shift_stays_within_a_tenth_of_the_side(implementation):
    images = np.full((N, 32, 32, 3), 120, dtype=np.uint8)
    images[:, 15:17, 15:17] = 255
    out = BOTH[implementation](images, shift=0.1, scale=0.0, rotate=0.0, hole=0)
    moved = np.abs(dot_positions(out) - 15.5)
    assert moved.max() <= 3.2 + 0.6  # 0.1 * 32 pixels, plus interpolation
    shifted = (moved > 0.3).any(1).mean()
    assert 0.4 < shifted < 0.6  # p = 0.5
    assert moved[moved > 0.3].mean() == pytest.approx(1.6, abs=0.45)  # uniform on [0, 3.2]


@pytest.mark.parametrize("implementation", BOTH)
def test_rotation_stays_within_15_degrees(implementation):
    images = np.full((N, 32, 32, 3), 120, dtype=np.uint8)
    images[:, 15:17, 25:27] = 255  # a dot 10 px right of the centre
    out = BOTH[implementation](images, shift=0.0, scale=0.0, rotate=15.0, hole=0)
    row, col = (dot_positions(out) - 15.5).T
    angles = np.degrees(np.abs(np.arctan2(row, np.abs(col))))
    assert angles.max() <= 15 + 2
    assert 0.4 < (angles > 0.5).mean() < 0.6


def spreads(out: np.ndarray) -> np.ndarray:
    """Standard deviation of the bright pixels' (row, col) positions in each image."""
    weight = np.clip(out[..., 0], 0, None)
    rows, cols = np.mgrid[0:32, 0:32]
    total = weight.sum((1, 2))
    centre = [(weight * rows).sum((1, 2)) / total, (weight * cols).sum((1, 2)) / total]
    var_r = (weight * (rows - centre[0][:, None, None]) ** 2).sum((1, 2)) / total
    var_c = (weight * (cols - centre[1][:, None, None]) ** 2).sum((1, 2)) / total
    return np.sqrt(np.stack([var_r, var_c], 1))


@pytest.mark.parametrize("implementation", BOTH)
def test_scale_is_drawn_apart_for_x_and_y_within_a_tenth(implementation):
    images = np.full((N, 32, 32, 3), 120, dtype=np.uint8)
    images[:, 8:24, 8:24] = 255  # a 16 px square in the middle
    out = BOTH[implementation](images, shift=0.0, scale=0.1, rotate=0.0, hole=0)
    reference = spreads(BOTH[implementation](images[:1], shift=0, scale=0, rotate=0, hole=0))
    zoom = spreads(out) / reference  # per axis, 1 where the affine was not applied
    scaled = (np.abs(zoom - 1) > 0.01).any(1)
    assert 0.4 < scaled.mean() < 0.6  # p = 0.5
    assert zoom.min() > 0.87 and zoom.max() < 1.13  # 1 +- 0.1, plus interpolation
    aspect = zoom[scaled, 0] / zoom[scaled, 1]
    # Independent uniform scales on [0.9, 1.1]: the aspect ratio varies (|log| ~ 0.067 mean);
    # one zoom for both axes would keep it at 1.
    assert np.abs(np.log(aspect)).mean() > 0.04
    assert zoom[scaled].mean() == pytest.approx(1.0, abs=0.02)


def test_device_batches_cover_the_set_once_per_epoch():
    images = np.arange(10 * 32 * 32 * 3, dtype=np.int64).reshape(10, 32, 32, 3) % 256
    labels = np.arange(10)
    loader = DeviceBatches(
        images.astype(np.uint8), labels, 4, BatchAugment(STATS), torch.device("cpu")
    )
    loader.reseed(1)
    seen = torch.cat([y for _, y in loader])
    assert len(loader) == 3 and sorted(seen.tolist()) == list(range(10))
    loader.reseed(1)
    assert torch.equal(torch.cat([y for _, y in loader]), seen)  # seeded: same order again
    batch, _ = next(iter(loader))
    assert batch.shape == (4, 3, 32, 32) and batch.dtype == torch.float32
    assert math.isfinite(batch.abs().max().item())
