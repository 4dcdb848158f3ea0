"""Tune's per-trial logs (``result.json``, ``progress.csv``) kept to one line per epoch.

A trial restored from a checkpoint replays the epochs after it, and Tune's loggers append their
results again. Tune logs an epoch's result before it registers the checkpoint that came with it,
so a driver stopped between the two (Ctrl-C, SIGKILL), a driver killed before its last snapshot,
or a trial retried after a failure, would log some epochs twice. ``LogsFromCheckpoint`` runs
before Tune's loggers open the files of a starting trial and cuts them back to the epoch it
resumes from: its newest whole checkpoint (none for a trial without one), which after a kill may
be newer than the one Tune's last snapshot knows. A last line half written by a kill goes too.
"""

from __future__ import annotations

import csv
import json

import pyarrow.fs as pafs
from ray import tune

from trainables.checkpoints import trial_checkpoints

RESULTS, PROGRESS = "result.json", "progress.csv"


class LogsFromCheckpoint(tune.Callback):
    def on_trial_start(self, iteration, trials, trial, **info):
        # The trial restores the newest whole checkpoint in its folder (trainables.trainable).
        found = trial_checkpoints(trial.storage.storage_filesystem, trial.path)
        epochs = found[0][0] or 0 if found else 0
        # The storage copy (a new driver's loggers download it) and the driver's own staging copy.
        for fs, folder in (
            (trial.storage.storage_filesystem, trial.path),
            (pafs.LocalFileSystem(), trial.local_path),
        ):
            cut(fs, f"{folder}/{RESULTS}", epochs, results_up_to)
            cut(fs, f"{folder}/{PROGRESS}", epochs, progress_up_to)


def cut(fs: pafs.FileSystem, path: str, epochs: int, keep) -> None:
    """Rewrite the file at ``path`` with what ``keep`` keeps of it, if that is less."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return
    with fs.open_input_stream(path) as f:
        text = f.read().decode()
    kept = keep(text, epochs)
    if kept != text:
        with fs.open_output_stream(path) as f:
            f.write(kept.encode())


def results_up_to(text: str, epochs: int) -> str:
    """The lines of a ``result.json`` for training iterations 1..epochs."""
    kept = []
    for line in text.splitlines(keepends=True):
        try:
            result = json.loads(line)
        except json.JSONDecodeError:  # half written when the driver was killed
            continue
        if line.endswith("\n") and result.get("training_iteration", 0) <= epochs:
            kept.append(line)
    return "".join(kept)


def progress_up_to(text: str, epochs: int) -> str:
    """The header line of a ``progress.csv`` and its rows for training iterations 1..epochs."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    header = next(csv.reader(lines[:1]))
    if "training_iteration" not in header:
        return text
    column = header.index("training_iteration")
    kept = lines[:1]
    for line in lines[1:]:
        if not line.endswith("\n"):  # half written when the driver was killed
            continue
        row = next(csv.reader([line]), [])
        if len(row) != len(header) or int(row[column]) <= epochs:  # not a whole row: keep it
            kept.append(line)
    return "".join(kept)
