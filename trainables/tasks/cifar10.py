"""CIFAR-10: the standard batches; validation carved from the training files with a fixed seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainables.data.augment import AugmentedImages, ChannelStats, cifar_train_transform
from trainables.data.batched import BatchAugment
from trainables.data.cifar10 import ImageSet, load_cifar10, train_val_split
from trainables.data.images import Images
from trainables.data.synthetic import write_synthetic_cifar10
from trainables.tasks.base import SPLIT_SEED, Task, TaskData


class Cifar10(Task):
    name = "cifar10"
    has_test_labels = True

    def check(self, data_dir: str) -> tuple[int, str]:
        data = load_cifar10(data_dir)  # downloaded where missing and online
        return len(data.classes), data.describe()

    def training_images(self, data_dir: str, val_fraction: float, train_images: int | None) -> int:
        count = len(self._split(len(load_cifar10(data_dir).train.labels), val_fraction)[0])
        return min(count, train_images) if train_images else count

    def load(
        self, data_dir: str, val_fraction: float | None, train_images: int | None, image_size: int
    ) -> TaskData:
        """The training files less the validation split; for a refit (``val_fraction`` None)
        all of them, scored on the test split."""
        data = load_cifar10(data_dir)
        n = len(data.train.labels)
        if val_fraction is None:
            train_idx, scored, scored_as = np.arange(n), data.test, "test"
        else:
            train_idx, val_idx = self._split(n, val_fraction)
            scored = ImageSet(data.train.images[val_idx], data.train.labels[val_idx])
            scored_as = "val"
        if train_images is not None:
            train_idx = train_idx[:train_images]
        images, labels = data.train.images[train_idx], data.train.labels[train_idx]
        stats = ChannelStats.of(images)
        return TaskData(
            train=AugmentedImages(images, labels, cifar_train_transform(stats)),
            val_x=Images(scored.images, stats),
            val_y=torch.from_numpy(scored.labels),
            stats=stats,
            classes=data.classes,
            scored_as=scored_as,
        )

    def batch_augment(self, stats: ChannelStats) -> BatchAugment:
        return BatchAugment(stats)

    def load_test(self, data_dir: str, stats: ChannelStats, image_size: int):
        """The labelled test batch; ids are positions. Never downloaded: a model predicts on
        the data its search trained on."""
        test = load_cifar10(data_dir, download=False).test
        ids = [str(i) for i in range(len(test.labels))]
        return Images(test.images, stats), torch.from_numpy(np.asarray(test.labels)), ids

    def write_synthetic(self, root: Path) -> Path:
        return write_synthetic_cifar10(root)

    @staticmethod
    def _split(n: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        return train_val_split(n, val_fraction, SPLIT_SEED)


CIFAR10 = Cifar10()
