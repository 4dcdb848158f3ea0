"""A trial's checkpoint folder: lean, ``weights_only``-loadable, enough to resume and audit.

``model.pt`` holds the state dict alone (for predictions), ``trainer.pt`` the optimizer,
scheduler, scaler and RNG states, ``trial.json`` the config, spec, training recipe, epoch and
data statistics: all that rebuilds the model and its training, without the search space.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import torch

from trainables.data.augment import ChannelStats
from trainables.device import choose_device
from trainables.loop import Training
from trainables.models import spec_from_dict, spec_to_dict
from trainables.recipe import recipe_from
from trainables.tasks import get_task

MANIFEST = "manifest.json"  # written last: the epoch and every file's size
PREFIX = "checkpoint_"  # Tune's name for a trial's checkpoint folders


def save_checkpoint(
    folder: Path, training: Training, config: dict, spec: Any, extra: dict
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = training.state_dict()
    meta = {
        "epoch": training.epoch,
        "config": config,
        "spec": spec_to_dict(spec),
        "recipe": training.recipe.name,
        "settings": training.recipe.as_dict(),  # the recipe's knobs
        **extra,
    }
    files = {
        "model.pt": saved(state.pop("model")),
        "trainer.pt": saved(state),
        "trial.json": json.dumps(meta, indent=1).encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    # Last: what a whole copy of this checkpoint holds (see ``whole_epoch``), hashed from the
    # bytes in memory rather than read back.
    manifest = {
        "epoch": training.epoch,
        "files": {name: len(data) for name, data in files.items()},
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))


def saved(obj) -> bytes:
    """``obj`` as ``torch.save`` writes it."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def whole_epoch(fs: pafs.FileSystem, folder: str) -> int | None:
    """The epoch of the checkpoint in ``folder`` (a path on ``fs``) if it is whole: every file
    its manifest lists is there at its size and, where the manifest has them (checkpoints since
    2026-12-07), with its SHA-256. None for one a kill left half copied, or whose bytes changed
    on disk since (a restore would fail to load it, or load something else)."""
    try:
        with fs.open_input_stream(f"{folder}/{MANIFEST}") as f:
            manifest = json.loads(f.read())
        sizes = manifest["files"]
        found = fs.get_file_info([f"{folder}/{name}" for name in sizes])
        if not all(i.type == pafs.FileType.File and i.size == sizes[i.base_name] for i in found):
            return None
        for name, digest in manifest.get("sha256", {}).items():
            if sha256(fs, f"{folder}/{name}") != digest:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return int(manifest["epoch"])


def sha256(fs: pafs.FileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
    return None


def trial_checkpoints(fs: pafs.FileSystem, trial_folder: str) -> list[tuple[int | None, str]]:
    """(epoch if whole, path) of every ``checkpoint_*`` folder of a trial, newest epoch first,
    the half-written ones (None) last; ``trainables.trainable.restore_point`` picks from them."""
    found = fs.get_file_info(pafs.FileSelector(trial_folder, allow_not_found=True))
    folders = [i.path for i in found if i.type == pafs.FileType.Directory]
    epochs = [(whole_epoch(fs, f), f) for f in folders if f.rsplit("/", 1)[-1].startswith(PREFIX)]
    return sorted(epochs, key=lambda e: (e[0] is not None, e[0] or 0, e[1]), reverse=True)


def load_checkpoint(folder: Path, training: Training) -> dict:
    """Restore ``training`` from ``folder``; returns the trial.json contents.

    Read to the CPU whatever device saved it: ``load_state_dict`` moves the model and optimizer
    tensors to the training's device, and the generator states must stay on the host.
    """
    state = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
    state["model"] = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    training.load_state_dict(state)
    return read_meta(folder)


def read_meta(folder: Path) -> dict:
    return json.loads((Path(folder) / "trial.json").read_text())


def spec_in(meta: dict) -> Any:
    """The model spec a trial.json holds."""
    spec = dict(meta["spec"])
    return spec_from_dict(spec.pop("family"), spec)


def recipe_in(meta: dict) -> Any:
    """The training recipe a trial.json holds."""
    return recipe_from(meta["settings"], meta.get("recipe"))


# What a checkpoint folder raises when read, cut short by a kill or damaged on disk since: a
# missing or truncated file, or one torch's weights-only unpickler refuses.
UNREADABLE = (OSError, ValueError, KeyError, RuntimeError, EOFError, pickle.UnpicklingError)


class CheckpointUnreadable(Exception):
    """A checkpoint's files do not load; the message names the error."""


def evaluate_checkpoint(folder: Path, task: str, data_dir: str) -> tuple[float, float]:
    """Test loss and accuracy of the model in a trial checkpoint (the test split, used once).

    Rebuilt from the checkpoint alone (its spec and training recipe). NaN for a task whose
    test split is unlabelled (HW2P2), without loading anything.
    """
    if not get_task(task).has_test_labels:
        return float("nan"), float("nan")
    try:
        meta = read_meta(folder)
        spec = spec_in(meta)
        training = Training(spec, recipe_in(meta), choose_device())
        load_checkpoint(folder, training)
    except UNREADABLE as e:
        raise CheckpointUnreadable(type(e).__name__) from e
    stats = ChannelStats.from_dict(meta["stats"])
    x, y, _ = get_task(task).load_test(data_dir, stats, spec.image_size)
    return training.evaluate(x, y)
