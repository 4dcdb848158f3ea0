"""Tiny synthetic data sets written in the real on-disk formats, for --smoke-test and tests."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

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


def write_synthetic_hw2p2(
    root: str | Path, size: int = 32, seed: int = 0, train_per_identity: int = 8
) -> Path:
    """A tiny face set in the HW2P2 layout: 6 identities to classify, 4 others to verify."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    palette = rng.integers(40, 216, (10, 3))  # one colour per identity, train to test

    def save(path: Path, identity: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.normal(0, 25, (size, size, 3)) + palette[identity]
        pixels[: size // 2, :, identity % 3] += 50  # a per-identity band
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=95)

    cls, ver = root / "classification", root / "verification"
    for k in range(6):
        for i in range(train_per_identity):
            save(cls / "train" / f"n{k:06d}" / f"{i}.jpg", k)
        for i in range(2):
            save(cls / "dev" / f"n{k:06d}" / f"{i}.jpg", k)
    for i in range(12):
        save(cls / "test" / f"{i:06d}.jpg", i % 6)
    for k in range(6, 10):
        save(ver / "known" / f"n{k:06d}" / "0.jpg", k)
    rows = []
    for i in range(8):
        save(ver / "unknown_dev" / f"{i:03d}.jpg", 6 + i % 4)
        rows.append((f"{i:03d}.jpg", f"n{6 + i % 4:06d}"))
        save(ver / "unknown_test" / f"{i:03d}.jpg", 6 + (i + 1) % 4)
    with open(ver / "dev_identities.csv", "w", newline="") as f:
        csv.writer(f).writerows([("id", "label"), *rows])
    return root
