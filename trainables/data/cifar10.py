"""CIFAR-10 in the standard "python version" batch format, with any number of images per file.

``<data-dir>/cifar-10-batches-py/`` holds ``data_batch_N`` files, ``test_batch`` and
``batches.meta``; each batch is a pickled dict with ``data`` (N x 3072 uint8, the R, G and B
planes of a 32x32 image in row-major order) and ``labels``. Where the folder is missing the
official archive is downloaded and its MD5 checked, once per machine (a file lock), and the
folder appears only when it is whole (extracted beside it, then renamed).
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.data import DataError
from trainables.data.publish import publish_once

FOLDER = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
DEFAULT_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
EXPECTED = "data_batch_1 ... data_batch_5, test_batch and batches.meta"
TRAIN_FILES = 5  # data_batch_1 .. data_batch_5 in the full set; fewer is a user's subset


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray  # N x 32 x 32 x 3 uint8 (HWC, as albumentations expects)
    labels: np.ndarray  # N int64


@dataclass(frozen=True)
class Cifar10:
    train: ImageSet  # every data_batch_N file
    test: ImageSet  # test_batch: only for the final evaluation of the best trial
    classes: tuple[str, ...]
    folder: Path
    train_files: int

    def describe(self) -> str:
        """One line: what was found, and whether it is the full set or a subset."""
        subset = "" if self.train_files >= TRAIN_FILES else " (a subset)"
        return (
            f"CIFAR-10 in {self.folder}: {self.train_files} of {TRAIN_FILES} training batch "
            f"files{subset}, {len(self.train.labels):,} training and {len(self.test.labels):,} "
            "test images"
        )


def load_cifar10(data_dir: str | Path, download: bool = True) -> Cifar10:
    """Read ``data_dir/cifar-10-batches-py``; download the official archive where missing."""
    folder = Path(data_dir) / FOLDER
    if folder.exists() and not _complete(folder):  # a published download is always whole
        raise DataError(
            f"CIFAR-10 in {folder} is incomplete: it needs test_batch and at least one "
            f"data_batch_N ({EXPECTED} in the full set); nothing is downloaded over it."
        )
    if not folder.exists():
        if not download:
            raise DataError(
                f"CIFAR-10 not found in {data_dir}: {folder} should hold {EXPECTED}; give the "
                "folder that holds cifar-10-batches-py (nothing is downloaded here)."
            )
        fetch_cifar10(Path(data_dir))
    classes = DEFAULT_CLASSES
    if (folder / "batches.meta").exists():
        classes = class_names(folder / "batches.meta")
    train_files = sorted(folder.glob("data_batch_*"), key=lambda p: p.name)
    train = _concat([read_batch(p, len(classes)) for p in train_files])
    test = read_batch(folder / "test_batch", len(classes))
    return Cifar10(train, test, classes, folder, len(train_files))


def class_names(path: Path) -> tuple[str, ...]:
    """The class names a ``batches.meta`` file lists (``label_names``)."""
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list | tuple) or not names:
        raise DataError(
            f"{path} is not a CIFAR-10 batches.meta file: it has no list of 'label_names'; "
            "replace it with the file from the official archive, or delete it (the ten "
            "CIFAR-10 classes are then assumed)."
        )
    return tuple(map(str, names))


def read_batch(path: Path, classes: int = len(DEFAULT_CLASSES)) -> ImageSet:
    """One batch file as HWC uint8 images and int64 labels (each one of ``classes``)."""
    batch = _unpickle(path)
    try:
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except KeyError as e:
        raise DataError(
            f"{path} is not a CIFAR-10 batch file: it has no {e.args[0]!r} key."
        ) from e
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(
            f"{path} is not a CIFAR-10 batch file: data has shape {data.shape} for "
            f"{len(labels)} labels (expected N x 3072)."
        )
    outside = labels[(labels < 0) | (labels >= classes)]
    if len(outside):
        raise DataError(
            f"{path} has {len(outside):,} labels outside 0-{classes - 1} (the first: "
            f"{outside[0]}): CIFAR-10 labels index its {classes} classes; fix or replace the file."
        )
    return ImageSet(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels)


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray, label: str = "batch") -> None:
    """Write HWC uint8 images in the batch format (the inverse of ``read_batch``)."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {
        "batch_label": label,
        "labels": [int(y) for y in labels],
        "data": np.ascontiguousarray(data, dtype=np.uint8),
        "filenames": [f"{label}_{i:05d}.png" for i in range(len(images))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f)


def fetch_cifar10(data_dir: Path, url: str | None = None, timeout_s: float = 30.0) -> None:
    """Download and unpack the official archive into ``data_dir``; DataError when offline.

    One process per machine downloads (the others wait, then find the folder), and the folder
    appears only once extracted whole (``publish_once``), so no reader sees half an archive.
    """
    url = url or URL
    folder = data_dir / FOLDER
    try:
        publish_once(folder, lambda staged: _download(url, timeout_s, staged, folder))
    except OSError as e:  # URLError, timeouts, refused connections, a read-only folder
        reason = getattr(e, "reason", None) or e
        raise DataError(
            f"CIFAR-10 not found in {folder} and it could not be downloaded ({reason}): put "
            f"{EXPECTED} there, or point --data-dir (or NAS_DATA_DIR) at the folder holding "
            f"{FOLDER}/."
        ) from e


def _download(url: str, timeout_s: float, staged: Path, folder: Path) -> None:
    """The official archive, MD5-checked, extracted to ``staged`` (on its way to ``folder``)."""
    print(f"CIFAR-10 not found in {folder}: downloading {url}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(archive, "wb") as f:
            shutil.copyfileobj(response, f, length=1 << 20)
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != MD5:
            raise DataError(f"the download from {url} is corrupt (MD5 {digest}, expected {MD5}).")
        with tarfile.open(archive) as tar:  # its one top folder is cifar-10-batches-py
            tar.extractall(staged.parent, filter="data")


def train_val_split(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a fixed, seeded split of the training files into train and validation."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (got {val_fraction})")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _complete(folder: Path) -> bool:
    return (folder / "test_batch").exists() and any(folder.glob("data_batch_*"))


class BatchUnpickler(pickle.Unpickler):
    """Reads what a CIFAR-10 batch file holds (dicts, lists, strings, bytes, numbers and NumPy
    arrays) and refuses anything else before it is built: a pickle names the callables that
    rebuild its objects, and a crafted batch file could name ``os.system``."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),  # arrays, as NumPy 1 and the official files
        ("numpy._core.multiarray", "_reconstruct"),  # ... and NumPy 2 name it
        ("numpy.core.numeric", "_frombuffer"),  # arrays in a protocol-5 pickle
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"it asks to run {module}.{name}, which a CIFAR-10 batch file never holds; "
                "nothing in it was run"
            )
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = BatchUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise DataError(
            f"{path} is not a readable CIFAR-10 batch file ({e}): replace it with the file "
            "from the official archive."
        ) from e
    if not isinstance(batch, dict):
        raise DataError(
            f"{path} is not a CIFAR-10 batch file: it holds a {type(batch).__name__}, not a "
            "dict; replace it with the file from the official archive."
        )
    return batch


def _concat(sets: list[ImageSet]) -> ImageSet:
    return ImageSet(
        np.concatenate([s.images for s in sets]), np.concatenate([s.labels for s in sets])
    )
