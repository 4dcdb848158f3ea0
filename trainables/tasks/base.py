"""What every task gives a trial: ``Task``, the data it loads (``TaskData``) and ``VerifySet``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from trainables.data.augment import ChannelStats
from trainables.data.images import Images
from trainables.data.publish import publish_once
from trainables.verification import pair_scores, verification_scores

SPLIT_SEED = 0  # the validation split is the same for every trial and every search


Embed = Callable[[Images], torch.Tensor]  # a network's feature vector of every image


@dataclass
class VerifySet:
    """Gallery verification: each unknown image labelled with a known identity (or no one)."""

    known_x: Images  # the gallery
    known_labels: list[str]
    unknown_x: Images  # unknown_dev
    truth: list[str]

    def scores(self, embed: Embed) -> dict[str, float]:
        known, unknown = embed(self.known_x), embed(self.unknown_x)
        return verification_scores(unknown, known, self.known_labels, self.truth)


@dataclass
class PairSet:
    """Pair verification: how similar the two images of each pair are (one person or not)."""

    images: Images  # every image of the pairs, once
    first: torch.Tensor  # per pair, the index of its first image in ``images``
    second: torch.Tensor
    same: torch.Tensor | None  # per pair, whether it is one person; None where unlabelled

    def similarities(self, embed: Embed) -> torch.Tensor:
        """The cosine similarity of each pair's embeddings."""
        vectors = F.normalize(embed(self.images).float(), dim=1).cpu()
        return (vectors[self.first] * vectors[self.second]).sum(dim=1)

    def scores(self, embed: Embed) -> dict[str, float]:
        return pair_scores(self.similarities(embed), self.same)


@dataclass
class TaskData:
    train: Dataset  # augmented samples (tensor, label)
    val_x: Images  # no augmentation
    val_y: torch.Tensor
    stats: ChannelStats
    classes: tuple[str, ...]
    verify: VerifySet | PairSet | None = None
    # what val_x holds: "val", carved from the training files or a dev split, or "test", the
    # test split a refit (every training image trains) is scored on once at the end
    scored_as: str = "val"

    def reseed(self, seed: int) -> None:
        """Make the next epoch's augmentations a function of ``seed`` alone."""
        self.train.transform.set_random_seed(seed)


class Task:
    """A data set in its on-disk layout: checked, counted, loaded, tested, and a synthetic copy.

    What differs between tasks is said by these attributes, never by comparing names.
    """

    name: str
    has_test_labels: bool  # the test split is labelled: a test accuracy can be measured
    verifies: bool = False  # each epoch also scores verification (``TaskData.verify``)
    # the training set is read from its memory-mapped cache a batch at a time (never whole in
    # memory) and augmented on the device, on every device
    streams: bool = False
    smoke_input_size: int | None = None  # the synthetic set's image size, where it is searched

    def check(self, data_dir: str) -> tuple[int, str]:
        """The number of classes and one line on what was found; DataError if unusable."""
        raise NotImplementedError

    def training_images(self, data_dir: str, val_fraction: float, train_images: int | None) -> int:
        """The images in one training epoch (the driver sizes ASHA's rungs by them)."""
        raise NotImplementedError

    def load(
        self, data_dir: str, val_fraction: float | None, train_images: int | None, image_size: int
    ) -> TaskData:
        """Training and validation data; the test split is left for ``load_test``.

        ``val_fraction`` None is a refit's data: no validation split is held out of the training
        files, and ``val_x`` is what a final model is scored on (``TaskData.scored_as``)."""
        raise NotImplementedError

    def load_test(
        self, data_dir: str, stats: ChannelStats, image_size: int
    ) -> tuple[Images, torch.Tensor | None, list[str]]:
        """The held-out test images (normalised with ``stats`` when used), labels, ids."""
        raise NotImplementedError

    def load_verification_pairs(
        self, data_dir: str, stats: ChannelStats, image_size: int
    ) -> PairSet | None:
        """A task that ``verifies``: the unlabelled test pairs (None in a gallery layout)."""
        raise NotImplementedError(f"task {self.name} does not verify")

    def load_verification_test(
        self, data_dir: str, stats: ChannelStats, image_size: int
    ) -> tuple[Images, list[str], Images, list[str]]:
        """A task that ``verifies``: the gallery (images, identities) and the unknown test
        images (images, file names)."""
        raise NotImplementedError(f"task {self.name} does not verify")

    def batch_augment(self, stats: ChannelStats):
        """The training augmentation as batched tensor ops (uint8 NCHW batch, generator ->
        normalised float), or None where the task has only the per-image pipeline."""
        return None

    def prepare(
        self, data_dir: str, train_images: int | None, sizes: tuple[int, ...], workers: int
    ) -> None:
        """Work done once per node before trials start (decoding caches), with ``workers``
        processes. Nothing by default."""

    def write_synthetic(self, root: Path) -> Path:
        """A tiny data set in the real on-disk layout."""
        raise NotImplementedError

    def ensure_synthetic(self, root: str | Path) -> Path:
        """``write_synthetic`` once per machine: every Ray node of a ``--smoke-test`` calls it
        for the same folder, and only one process writes it (``publish_once``)."""
        root = Path(root)
        publish_once(root, self.write_synthetic)
        return root
