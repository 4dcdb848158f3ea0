"""HW2P2 face data: validated before any trial, decoded once, then cached.

    classification/{train,dev}/<identity>/*.jpg    classification/test/*.jpg (unlabelled)
    verification/known/<identity>/*.jpg             the gallery of known identities
    verification/unknown_dev/*.jpg                  labelled by verification/dev_identities.csv
    verification/unknown_test/*.jpg                 unlabelled

That is the gallery layout (Fall 2022; Fall 2023 adds unknowns of no one, ``n000000``). Where
``verification/val_pairs.txt`` is present instead (Spring 2024 on), verification is by pairs:
each line names two images and whether they are one person (``IMAGE IMAGE 1`` or ``... 0``),
``test_pairs.txt`` the same without the label; image paths are relative to ``verification/`` or
to the data folder.

Decoded images are cached as uint8 arrays (``.npy``, memory-mapped) per split and input size in
``$NAS_CACHE_DIR`` (default ``~/.cache/cnn-nas``; the data folder is never written to), so JPEG
decoding and resizing happen once per node, data set and size, not every epoch or every trial.
A cache is built by a pool of processes writing straight into a memory-mapped file (memory does
not grow with the number of images), under a file lock (trials asking at once wait for one
build), and published by rename (a killed build leaves no half cache behind).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from trainables.data import DataError
from trainables.data.augment import ChannelStats
from trainables.data.decode import check_image, decode_chunk
from trainables.verification import NO_ONE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PAIRS, TEST_PAIRS = "val_pairs.txt", "test_pairs.txt"  # in verification/: the pair layout
CHUNK = 256  # images a decoding process reads and writes at a time


@dataclass(frozen=True)
class FaceLayout:
    root: Path
    identities: tuple[str, ...]  # classification classes: the train identity folders, sorted
    train: tuple[tuple[Path, int], ...]
    dev: tuple[tuple[Path, int], ...]
    test: tuple[Path, ...]
    known: tuple[tuple[Path, str], ...]  # gallery image, its identity
    unknown_dev: tuple[tuple[Path, str], ...]  # image, its true identity
    unknown_test: tuple[Path, ...]
    pairs: tuple[tuple[Path, Path, bool], ...] = ()  # val_pairs.txt: (a, b, one person)
    test_pairs: tuple[tuple[Path, Path], ...] = ()  # test_pairs.txt

    def pair_images(self, pairs: tuple[tuple, ...]) -> list[Path]:
        """Every image of ``pairs`` once, in order of first appearance."""
        return list(dict.fromkeys(p for pair in pairs for p in pair[:2]))


def validate_layout(root: str | Path, check_images: bool = True) -> FaceLayout:
    """Read the folder structure; DataError names the first missing or broken piece."""
    root = Path(root)
    cls, ver = root / "classification", root / "verification"
    train = _labelled_folders(cls / "train")
    identities = tuple(sorted(train))
    index = {name: i for i, name in enumerate(identities)}
    dev = _labelled_folders(cls / "dev")
    unseen = sorted(set(dev) - set(index))
    if unseen:
        raise DataError(
            f"{cls / 'dev'} has identities with no training folder ({', '.join(unseen[:3])}): "
            "every dev identity must also be in classification/train."
        )
    classification = {
        "root": root,
        "identities": identities,
        "train": tuple((p, index[n]) for n, paths in sorted(train.items()) for p in paths),
        "dev": tuple((p, index[n]) for n, paths in sorted(dev.items()) for p in paths),
        "test": tuple(_flat(cls / "test")),
    }
    if (ver / PAIRS).is_file():
        test_pairs = ver / TEST_PAIRS
        layout = FaceLayout(
            **classification,
            known=(),
            unknown_dev=(),
            unknown_test=(),
            pairs=tuple(_read_pairs(ver / PAIRS, root, labelled=True)),
            test_pairs=tuple(_read_pairs(test_pairs, root)) if test_pairs.is_file() else (),
        )
    else:
        known = _labelled_folders(ver / "known")
        unknown_dev = _flat(ver / "unknown_dev")
        truth = _read_identities(ver / "dev_identities.csv", ver / "unknown_dev", set(known))
        layout = FaceLayout(
            **classification,
            known=tuple((p, n) for n, paths in sorted(known.items()) for p in paths),
            unknown_dev=tuple((p, truth[p.name]) for p in unknown_dev if p.name in truth),
            unknown_test=tuple(_flat(ver / "unknown_test")),
        )
    if check_images:
        every = [p for p, _ in layout.train + layout.dev + layout.known + layout.unknown_dev]
        every += list(layout.test + layout.unknown_test)
        every += layout.pair_images(layout.pairs + layout.test_pairs)
        # Headers only (a full decode names any file it cannot read later): I/O bound, so
        # threads; the first broken file in layout order is the one named.
        with ThreadPoolExecutor(min(32, 4 * (os.cpu_count() or 1))) as pool:
            for _ in pool.map(check_image, every, chunksize=64):
                pass
    return layout


def load_images(
    paths: list[Path], size: int, cache_dir: Path | None = None, workers: int = 1
) -> np.ndarray:
    """N x size x size x 3 uint8 images as a read-only memory map of the node's cache.

    The first caller on a node decodes them with ``workers`` processes; the others wait for it
    on the cache's file lock and then map the same file.
    """
    target = cache_path(paths, size, cache_dir or _cache_dir())
    if not target.exists():
        with FileLock(f"{target}.lock"):
            if not target.exists():  # built while this one waited
                for dead in target.parent.glob(f"{target.stem}.*.partial.npy"):
                    dead.unlink()  # left by a killed build: the lock says none is running
                _decode(paths, size, target, workers)
    return np.load(target, mmap_mode="r")


def cached_stats(images: np.memmap) -> ChannelStats:
    """The channel statistics of a cache, computed once and kept beside it (a trial at 224 px
    would otherwise read the 21 GB training set once more before its first step)."""
    path = Path(f"{images.filename}.stats.json")
    if path.exists():
        return ChannelStats.from_dict(json.loads(path.read_text()))
    stats = ChannelStats.of(images)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(dataclasses.asdict(stats)))
    os.replace(partial, path)
    return stats


def cache_path(paths: list[Path], size: int, cache_dir: Path) -> Path:
    """The cache file of these images at this size: named by their paths and modification
    times, so an edited data set is decoded again."""
    key = hashlib.sha256("\n".join(f"{p}:{p.stat().st_mtime_ns}" for p in paths).encode())
    return cache_dir / f"faces-{size}px-{key.hexdigest()[:16]}.npy"


def _decode(paths: list[Path], size: int, target: Path, workers: int) -> None:
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial.npy")
    np.lib.format.open_memmap(partial, "w+", np.uint8, (len(paths), size, size, 3)).flush()
    chunks = [
        (str(partial), size, start, paths[start : start + CHUNK])
        for start in range(0, len(paths), CHUNK)
    ]
    progress = tqdm(
        total=len(paths),
        desc=f"decoding {len(paths):,} face images at {size} px",
        unit="img",
        file=sys.stderr,
        mininterval=5,
        disable=len(paths) < 4 * CHUNK,
    )
    try:
        if workers <= 1 or len(chunks) == 1:
            for chunk in chunks:
                progress.update(decode_chunk(*chunk))
        else:
            # spawn: a fork of a threaded process (a Ray worker) can deadlock
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=spawn) as pool:
                for done in as_completed([pool.submit(decode_chunk, *c) for c in chunks]):
                    progress.update(done.result())
        os.replace(partial, target)
    finally:
        progress.close()
        partial.unlink(missing_ok=True)


def _cache_dir() -> Path:
    """``$NAS_CACHE_DIR/faces``, or without it ``~/.cache/cnn-nas/faces`` and else one in the
    temporary folder. A NAS_CACHE_DIR that cannot hold the cache is an error, not a silent
    fall-back: at HW2P2's real size the cache takes tens of GB."""
    if asked := os.environ.get("NAS_CACHE_DIR"):
        try:
            (Path(asked) / "faces").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(
                f"NAS_CACHE_DIR={asked} cannot hold the decoded-image cache ({e.strerror or e}): "
                "point it at a writable folder with room for the decoded images."
            ) from None
        return Path(asked) / "faces"
    for candidate in (Path.home() / ".cache" / "cnn-nas", Path(tempfile.gettempdir())):
        try:
            (candidate / "faces").mkdir(parents=True, exist_ok=True)
            return candidate / "faces"
        except OSError:
            continue
    raise DataError("no writable folder for the decoded-image cache: set NAS_CACHE_DIR.")


def _labelled_folders(folder: Path) -> dict[str, list[Path]]:
    if not folder.is_dir():
        raise DataError(
            f"HW2P2 data: {folder} is missing; expected one folder per identity there."
        )
    found = {}
    for identity in sorted(p for p in folder.iterdir() if p.is_dir()):
        images = _images_in(identity)
        if not images:
            raise DataError(f"HW2P2 data: identity folder {identity} holds no images.")
        found[identity.name] = images
    if not found:
        raise DataError(f"HW2P2 data: {folder} has no identity folders.")
    return found


def _flat(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"HW2P2 data: {folder} is missing; expected a flat folder of images.")
    return _images_in(folder)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_identities(csv_path: Path, images: Path, known: set[str]) -> dict[str, str]:
    if not csv_path.is_file():
        raise DataError(f"HW2P2 data: {csv_path} is missing; expected id,label rows.")
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"HW2P2 data: {csv_path} is not a CSV of id,label rows ({e}).") from None
    if not {"id", "label"} <= set(reader.fieldnames or ()):
        raise DataError(f"HW2P2 data: {csv_path} needs the columns id,label.")
    if not rows:
        raise DataError(
            f"HW2P2 data: {csv_path} has no id,label rows: verification cannot be scored."
        )
    truth = {}
    for row in rows:
        if not (images / row["id"]).is_file():
            raise DataError(
                f"HW2P2 data: {csv_path} names {row['id']}, which does not exist in {images}."
            )
        if row["label"] not in known and row["label"] != NO_ONE:
            raise DataError(
                f"HW2P2 data: {csv_path} labels {row['id']} as {row['label']}, "
                f"which is not a folder of verification/known (nor {NO_ONE}, no one in it)."
            )
        truth[row["id"]] = row["label"]
    return truth


def _read_pairs(path: Path, root: Path, labelled: bool = False) -> list[tuple]:
    """(a, b, one person) per line of a labelled pair file, else (a, b); DataError names the
    first line that is not two images (and a 0 or 1)."""
    shape = "IMAGE IMAGE 1 (one person) or IMAGE IMAGE 0" if labelled else "IMAGE IMAGE"
    found = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 + labelled or (labelled and fields[2] not in ("0", "1")):
            raise DataError(
                f"HW2P2 data: {path} line {number} is {line.strip()!r}: expected {shape}."
            )
        images = []
        for name in fields[:2]:
            image = next((b / name for b in (path.parent, root) if (b / name).is_file()), None)
            if image is not None and not image.resolve().is_relative_to(root.resolve()):
                raise DataError(
                    f"HW2P2 data: {path} line {number} names {name}, outside the data folder "
                    f"{root}: name images relative to {path.parent} or {root}."
                )
            if image is None:
                raise DataError(
                    f"HW2P2 data: {path} line {number} names {name}, which is neither in "
                    f"{path.parent} nor in {root}."
                )
            images.append(image)
        found.append((*images, fields[2] == "1") if labelled else tuple(images))
    if labelled and len({same for *_, same in found}) < 2:
        raise DataError(
            f"HW2P2 data: {path} needs pairs of one person (1) and of two people (0) to score "
            f"verification; it has {len(found)} pairs, all labelled the same."
        )
    return found
