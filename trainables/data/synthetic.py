"""Tiny synthetic data sets written in the real on-disk formats, for --smoke-test and tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from trainables.data.cifar10 import DEFAULT_CLASSES, FOLDER, write_batch


def write_synthetic_cifar10(
    data_dir: str | Path, n_train: int = 512, n_test: int = 128, n_files: int = 2, seed: int = 0
) -> Path:
    """Write a learnable CIFAR-10 look-alike (each class a colour and a stripe) under data_dir."""
    rng = np.random.default_rng(seed)
    folder = Path(data_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    palette = rng.integers(40, 216, (10, 3))  # each class's colour, shared by train and test
    train_x, train_y = _images(rng, n_train, palette)
    for i, part in enumerate(np.array_split(np.arange(n_train), n_files), start=1):
        write_batch(folder / f"data_batch_{i}", train_x[part], train_y[part], f"batch {i}")
    test_x, test_y = _images(rng, n_test, palette)
    write_batch(folder / "test_batch", test_x, test_y, "test batch")
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(DEFAULT_CLASSES), "num_vis": 3072}, f)
    return Path(data_dir)


def _images(
    rng: np.random.Generator, n: int, palette: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 10, n)
    images = rng.normal(0, 30, (n, 32, 32, 3)) + palette[labels][:, None, None, :]
    rows = np.arange(32)[None, :, None]
    stripes = (rows // 4) % 2 == (labels[:, None, None] % 2)
    images[..., 0] += np.where(stripes, 40, -40)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)
