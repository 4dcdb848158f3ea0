"""HW2P2 faces: ``classification/dev`` validates, and the verification gallery gives every epoch
a ``verify_acc`` as well. The classification test split is unlabelled."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from trainables.data import DataError
from trainables.data.augment import AugmentedImages, ChannelStats, face_train_transform
from trainables.data.face_augment import FaceAugment
from trainables.data.hw2p2 import (
    TEST_PAIRS,
    FaceLayout,
    cached_stats,
    load_images,
    validate_layout,
)
from trainables.data.images import Images
from trainables.data.synthetic import write_synthetic_hw2p2
from trainables.tasks.base import PairSet, Task, TaskData, VerifySet


class Hw2p2(Task):
    name = "hw2p2"
    has_test_labels = False
    verifies = True
    streams = True
    smoke_input_size = 32  # write_synthetic's faces: seconds per epoch on a CPU

    def check(self, data_dir: str) -> tuple[int, str]:
        layout = validate_layout(data_dir)
        verification = (
            f"{len(layout.pairs):,} verification pairs"
            if layout.pairs
            else f"{len(layout.known):,} gallery images"
        )
        return len(layout.identities), (
            f"HW2P2 faces in {layout.root}: {len(layout.identities):,} identities, "
            f"{len(layout.train):,} training and {len(layout.dev):,} dev images, {verification}"
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
        images, dev, *verification = (
            load_images(paths, image_size) for paths in _trial_splits(layout, train_images)
        )
        labels = np.array([y for _, y in train], dtype=np.int64)
        stats = cached_stats(images)
        if layout.pairs:
            verify = _pair_set(layout, layout.pairs, Images(verification[0], stats))
        else:
            known, unknown = verification
            verify = VerifySet(
                known_x=Images(known, stats),
                known_labels=[name for _, name in layout.known],
                unknown_x=Images(unknown, stats),
                truth=[name for _, name in layout.unknown_dev],
            )
        return TaskData(
            train=AugmentedImages(images, labels, face_train_transform(stats)),
            val_x=Images(dev, stats),
            val_y=torch.tensor([y for _, y in layout.dev]),
            stats=stats,
            classes=layout.identities,
            verify=verify,
        )

    def load_test(self, data_dir: str, stats: ChannelStats, image_size: int):
        """``classification/test``: no labels; ids are file names."""
        layout = _layout(data_dir)
        images = load_images(list(layout.test), image_size)
        return Images(images, stats), None, [p.name for p in layout.test]

    def load_verification_pairs(
        self, data_dir: str, stats: ChannelStats, image_size: int
    ) -> PairSet | None:
        """The pairs of ``test_pairs.txt`` (unlabelled); None in a gallery layout."""
        layout = _layout(data_dir)
        if not layout.pairs:
            return None
        if not layout.test_pairs:
            where = Path(data_dir) / "verification" / TEST_PAIRS
            raise DataError(
                f"HW2P2 data: {where} is missing or lists no pair: nothing to write a "
                "verification submission for; add the test pairs, one 'IMAGE IMAGE' per line."
            )
        images = load_images(layout.pair_images(layout.test_pairs), image_size)
        return _pair_set(layout, layout.test_pairs, Images(images, stats))

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
    """The images a trial reads: training (the first ``train_images``), dev, then gallery and
    unknown_dev, or the images of the validation pairs."""
    train = layout.train[:train_images] if train_images else layout.train
    splits = [[p for p, _ in split] for split in (train, layout.dev)]
    if layout.pairs:
        return [*splits, layout.pair_images(layout.pairs)]
    return [*splits, *([p for p, _ in split] for split in (layout.known, layout.unknown_dev))]


def _pair_set(layout: FaceLayout, pairs: tuple[tuple, ...], images: Images) -> PairSet:
    """``pairs`` as indices into ``images`` (``layout.pair_images(pairs)``, decoded)."""
    where = {path: i for i, path in enumerate(layout.pair_images(pairs))}
    first, second = (
        torch.tensor([where[pair[k]] for pair in pairs], dtype=torch.long) for k in (0, 1)
    )
    labelled = pairs and len(pairs[0]) == 3
    same = torch.tensor([pair[2] for pair in pairs]) if labelled else None
    return PairSet(images, first, second, same)


@functools.lru_cache(maxsize=4)
def _layout(data_dir: str) -> FaceLayout:
    """The face layout, listed once per process (the driver has checked its images)."""
    return validate_layout(data_dir, check_images=False)


HW2P2 = Hw2p2()
