"""The data a trial trains and is judged on, per task: loaded, split and augmented."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from trainables.data.augment import AugmentedImages, ChannelStats, cifar_train_transform, normalize
from trainables.data.cifar10 import load_cifar10, train_val_split

TASKS = ("cifar10",)
SPLIT_SEED = 0  # the validation split is the same for every trial and every search


@dataclass
class TaskData:
    train: Dataset  # augmented samples (tensor, label)
    val_x: torch.Tensor  # normalised, no augmentation
    val_y: torch.Tensor
    stats: ChannelStats
    classes: tuple[str, ...]

    def reseed(self, seed: int) -> None:
        """Make the next epoch's augmentations a function of ``seed`` alone."""
        self.train.transform.set_random_seed(seed)


def check_data(task: str, data_dir: str) -> None:
    """Fail (DataError) before any trial starts if ``task``'s data is missing or malformed."""
    if task != "cifar10":
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    load_cifar10(data_dir)  # downloads where missing and online


def load_task(
    task: str, data_dir: str, val_fraction: float = 0.1, train_limit: int | None = None
) -> TaskData:
    """Training and validation data of ``task``; the test split is left for ``load_test``."""
    if task != "cifar10":
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    data = load_cifar10(data_dir)
    train_idx, val_idx = train_val_split(len(data.train.labels), val_fraction, SPLIT_SEED)
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    images, labels = data.train.images[train_idx], data.train.labels[train_idx]
    stats = ChannelStats.of(images)
    return TaskData(
        train=AugmentedImages(images, labels, cifar_train_transform(stats)),
        val_x=normalize(data.train.images[val_idx], stats),
        val_y=torch.from_numpy(data.train.labels[val_idx]),
        stats=stats,
        classes=data.classes,
    )


def load_test(task: str, data_dir: str, stats: ChannelStats) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out test split, normalised with the training statistics of the trial."""
    if task != "cifar10":
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    test = load_cifar10(data_dir).test
    return normalize(test.images, stats), torch.from_numpy(np.asarray(test.labels))
