"""HW2P2 faces: ``classification/dev`` validates, and the verification gallery gives every epoch
a ``verify_acc`` as well. The classification test split is unlabelled."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from trainables.data.augment import AugmentedImages, ChannelStats, face_train_transform
from trainables.data.face_augment import FaceAugment
from trainables.data.hw2p2 import FaceLayout, cached_stats, load_images, validate_layout
from trainables.data.images import Images
from trainables.data.synthetic import write_synthetic_hw2p2
from trainables.tasks.base import Task, TaskData, VerifySet


class Hw2p2(Task):
    name = "hw2p2"
    has_test_labels = False
    verifies = True
    streams = True
    smoke_input_size = 32  # write_synthetic's faces: seconds per epoch on a CPU

    def check(self, data_dir: str) -> tuple[int, str]:
        layout = validate_layout(data_dir)
        return len(layout.identities), (
            f"HW2P2 faces in {layout.root}: {len(layout.identities):,} identities, "
            f"{len(layout.train):,} training and {len(layout.dev):,} dev images, "
            f"{len(layout.known):,} gallery images"
        )

    def training_images(self, data_dir: str, val_fraction: float, train_images: int | None) -> int:
        count = len(_layout(data_dir).train)  # dev is the validation set: val_fraction unused
        return min(count, train_images) if train_images else count

    def batch_augment(self, stats: ChannelStats) -> FaceAugment:
        return FaceAugment(stats)

    def prepare(
        self, data_dir: str, train_images: int | None, sizes: tuple[int, ...], workers: int
    ) -> None:
        """Decode every split a trial reads, at every size the search can draw."""
        train, *others = _trial_splits(_layout(data_dir), train_images)
        for size in sizes:
            cached_stats(load_images(train, size, workers=workers))
            for paths in others:
                load_images(paths, size, workers=workers)

    def load(
        self, data_dir: str, val_fraction: float | None, train_images: int | None, image_size: int
    ) -> TaskData:
        """Training and dev (a refit's too: the test split is unlabelled); the gallery and
        unknown_dev for verification."""
        layout = _layout(data_dir)
        train = layout.train[:train_images] if train_images else layout.train
        images, dev, known, unknown = (
            load_images(paths, image_size) for paths in _trial_splits(layout, train_images)
        )
        labels = np.array([y for _, y in train], dtype=np.int64)
        stats = cached_stats(images)
        return TaskData(
            train=AugmentedImages(images, labels, face_train_transform(stats)),
            val_x=Images(dev, stats),
            val_y=torch.tensor([y for _, y in layout.dev]),
            stats=stats,
            classes=layout.identities,
            verify=VerifySet(
                known_x=Images(known, stats),
                known_labels=[name for _, name in layout.known],
                unknown_x=Images(unknown, stats),
                truth=[name for _, name in layout.unknown_dev],
            ),
        )

    def load_test(self, data_dir: str, stats: ChannelStats, image_size: int):
        """``classification/test``: no labels; ids are file names."""
        layout = _layout(data_dir)
        images = load_images(list(layout.test), image_size)
        return Images(images, stats), None, [p.name for p in layout.test]

    def load_verification_test(
        self, data_dir: str, stats: ChannelStats, image_size: int
    ) -> tuple[Images, list[str], Images, list[str]]:
        """The gallery (images, identities) and ``unknown_test`` (images, file names)."""
        layout = _layout(data_dir)
        known = load_images([p for p, _ in layout.known], image_size)
        unknown = load_images(list(layout.unknown_test), image_size)
        return (
            Images(known, stats),
            [name for _, name in layout.known],
            Images(unknown, stats),
            [p.name for p in layout.unknown_test],
        )

    def write_synthetic(self, root: Path) -> Path:
        return write_synthetic_hw2p2(root, size=self.smoke_input_size)


def _trial_splits(layout: FaceLayout, train_images: int | None) -> list[list[Path]]:
    """The images a trial reads: training (the first ``train_images``), dev, gallery,
    unknown_dev."""
    train = layout.train[:train_images] if train_images else layout.train
    return [
        [p for p, _ in split] for split in (train, layout.dev, layout.known, layout.unknown_dev)
    ]


@functools.lru_cache(maxsize=4)
def _layout(data_dir: str) -> FaceLayout:
    """The face layout, listed once per process (the driver has checked its images)."""
    return validate_layout(data_dir, check_images=False)


HW2P2 = Hw2p2()
