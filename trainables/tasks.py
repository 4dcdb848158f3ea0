"""The data a trial trains and is judged on, per task: loaded, split and augmented.

``cifar10``: the CIFAR-10 batches; validation carved from the training files with a fixed seed.
``hw2p2``: the HW2P2 face layout; ``classification/dev`` is the validation set and the
verification gallery gives every epoch a ``verify_acc`` as well.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from trainables.data.augment import (
    AugmentedImages,
    ChannelStats,
    cifar_train_transform,
    face_train_transform,
    normalize,
)
from trainables.data.cifar10 import load_cifar10, train_val_split
from trainables.data.hw2p2 import FaceLayout, load_images, validate_layout

TASKS = ("cifar10", "hw2p2")
SPLIT_SEED = 0  # the validation split is the same for every trial and every search


@dataclass
class VerifySet:
    known_x: torch.Tensor  # normalised gallery images
    known_labels: list[str]
    unknown_x: torch.Tensor  # normalised unknown_dev images
    truth: list[str]


@dataclass
class TaskData:
    train: Dataset  # augmented samples (tensor, label)
    val_x: torch.Tensor  # normalised, no augmentation
    val_y: torch.Tensor
    stats: ChannelStats
    classes: tuple[str, ...]
    verify: VerifySet | None = None

    def reseed(self, seed: int) -> None:
        """Make the next epoch's augmentations a function of ``seed`` alone."""
        self.train.transform.set_random_seed(seed)


def _check(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


def check_data(task: str, data_dir: str) -> tuple[int, str]:
    """Fail (DataError) before any trial starts if the data is missing or malformed.

    Returns the number of classes and one line saying what was found. CIFAR-10 is downloaded
    where missing and online.
    """
    _check(task)
    if task == "cifar10":
        data = load_cifar10(data_dir)
        return len(data.classes), data.describe()
    layout = validate_layout(data_dir)
    return len(layout.identities), (
        f"HW2P2 faces in {layout.root}: {len(layout.identities):,} identities, "
        f"{len(layout.train):,} training and {len(layout.dev):,} dev images, "
        f"{len(layout.known):,} gallery images"
    )


def training_images(
    task: str, data_dir: str, val_fraction: float = 0.1, train_limit: int | None = None
) -> int:
    """The images in one training epoch of ``task`` (the driver sizes ASHA's rungs by them)."""
    _check(task)
    if task == "hw2p2":
        count = len(_layout(data_dir).train)
    else:
        count = len(train_val_split(len(load_cifar10(data_dir).train.labels), val_fraction)[0])
    return min(count, train_limit) if train_limit else count


def load_task(
    task: str,
    data_dir: str,
    val_fraction: float = 0.1,
    train_limit: int | None = None,
    image_size: int = 32,
) -> TaskData:
    """Training and validation data of ``task``; the test split is left for ``load_test``."""
    _check(task)
    if task == "hw2p2":
        return _faces(data_dir, train_limit, image_size)
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


@functools.lru_cache(maxsize=1)
def cached_task(
    task: str, data_dir: str, val_fraction: float, train_limit: int | None, image_size: int
) -> TaskData:
    """``load_task``, kept for the next trial in the same process.

    Tune reuses a trial's actor for the next trial with the same resources, so the trials of a
    search load (and, for faces, decode) their data once per worker rather than once per trial.
    Safe to share: training only reads the arrays, and ``reseed`` resets the augmentation state
    at the start of every epoch.
    """
    return load_task(task, data_dir, val_fraction, train_limit, image_size)


def _faces(data_dir: str, train_limit: int | None, size: int) -> TaskData:
    layout = _layout(data_dir)
    train = layout.train[:train_limit] if train_limit else layout.train
    images = load_images([p for p, _ in train], size)
    labels = np.array([y for _, y in train], dtype=np.int64)
    stats = ChannelStats.of(np.asarray(images))
    dev = load_images([p for p, _ in layout.dev], size)
    known = load_images([p for p, _ in layout.known], size)
    unknown = load_images([p for p, _ in layout.unknown_dev], size)
    return TaskData(
        train=AugmentedImages(images, labels, face_train_transform(stats)),
        val_x=normalize(np.asarray(dev), stats),
        val_y=torch.tensor([y for _, y in layout.dev]),
        stats=stats,
        classes=layout.identities,
        verify=VerifySet(
            known_x=normalize(np.asarray(known), stats),
            known_labels=[name for _, name in layout.known],
            unknown_x=normalize(np.asarray(unknown), stats),
            truth=[name for _, name in layout.unknown_dev],
        ),
    )


def has_test_labels(task: str) -> bool:
    """CIFAR-10's test batch has labels; HW2P2's classification/test does not."""
    _check(task)
    return task == "cifar10"


@functools.lru_cache(maxsize=4)
def _layout(data_dir: str) -> FaceLayout:
    """The face layout, listed once per process (the driver has checked its images)."""
    return validate_layout(data_dir, check_images=False)


def load_test(
    task: str, data_dir: str, stats: ChannelStats, image_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The held-out test images (normalised with the trial's statistics), labels, and ids.

    CIFAR-10's test batch is labelled (ids are positions); HW2P2's classification/test is not
    (labels None, ids are file names).
    """
    _check(task)
    if task == "cifar10":
        test = load_cifar10(data_dir).test
        ids = [str(i) for i in range(len(test.labels))]
        return normalize(test.images, stats), torch.from_numpy(np.asarray(test.labels)), ids
    layout = _layout(data_dir)
    images = load_images(list(layout.test), image_size)
    return normalize(np.asarray(images), stats), None, [p.name for p in layout.test]


def load_verification_test(
    data_dir: str, stats: ChannelStats, image_size: int
) -> tuple[torch.Tensor, list[str], torch.Tensor, list[str]]:
    """HW2P2's gallery (images, identities) and ``unknown_test`` (images, file names)."""
    layout = _layout(data_dir)
    known = load_images([p for p, _ in layout.known], image_size)
    unknown = load_images(list(layout.unknown_test), image_size)
    return (
        normalize(np.asarray(known), stats),
        [name for _, name in layout.known],
        normalize(np.asarray(unknown), stats),
        [p.name for p in layout.unknown_test],
    )
