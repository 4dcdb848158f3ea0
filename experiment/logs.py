"""Tune's per-trial logs (``result.json``, ``progress.csv``) kept to one line per epoch.

A trial restored from a checkpoint replays the epochs after it, and Tune's loggers append their
results again. Tune logs an epoch's result before it registers the checkpoint that came with it,
so a driver stopped between the two (Ctrl-C, SIGKILL), a driver killed before its last snapshot,
or a trial retried after a failure, would log some epochs twice. ``LogsFromCheckpoint`` runs
before Tune's loggers open the files of a starting trial and cuts them back to the epoch it
resumes from (``trainables.trainable.restore_point``; none for a trial without a checkpoint),
which after a kill may be newer than the one Tune's last snapshot knows. A last line half written
by a kill goes too. On each checkpoint it puts the trial's result.json into the storage before
Tune deletes the checkpoint before it, so that a restore never has to skip a logged epoch.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import pyarrow.fs as pafs
from ray import tune
from ray.tune.result import EXPR_PROGRESS_FILE as PROGRESS
from ray.tune.result import EXPR_RESULT_FILE as RESULTS

from experiment.layout import STARTED_OVER
from experiment.storage import write_whole
from trainables.trainable import restore_point


class LogsFromCheckpoint(tune.Callback):
    def on_trial_start(self, iteration, trials, trial, **info):
        # Where the trial goes on from (trainables.trainable, in the worker, after this).
        restored = restore_point(trial.storage.storage_filesystem, trial.path)
        epochs = restored[0] if restored else 0
        # The storage copy and the driver's own staging copy, which Tune's loggers append to.
        # Both get the longer of the two cut back: a new driver's loggers download the storage
        # copy only where Tune's last snapshot named a checkpoint of the trial, so after a kill
        # before that snapshot the staging copy would start empty and, uploaded, replace the
        # epochs before the restore point. The storage copy is replaced whole; the staging copy
        # in place, since Tune's loggers may still hold it open (a trial retried by the same
        # driver) and append to it.
        copies = (
            (trial.storage.storage_filesystem, trial.path, write_whole),
            (pafs.LocalFileSystem(), trial.local_path, overwrite),
        )
        for name, keep in ((RESULTS, results_up_to), (PROGRESS, progress_up_to)):
            texts = [read(fs, f"{folder}/{name}") for fs, folder, _ in copies]
            if name == RESULTS and not restored:
                note_a_start_over(trial, max(map(logged_epochs, texts)))
            whole = max((keep(text, epochs) for text in texts), key=lambda text: text.count("\n"))
            for (fs, folder, write), text in zip(copies, texts, strict=True):
                if text != whole:
                    fs.create_dir(folder, recursive=True)
                    write(fs, f"{folder}/{name}", whole.encode())

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        """The trial's result.json, with this checkpoint's epoch, into the storage now: Tune
        deletes the trial's previous checkpoint right after this, and its own upload of the
        logs comes only with its next snapshot."""
        with open(f"{trial.local_path}/{RESULTS}", "rb") as f:
            results = f.read()
        write_whole(trial.storage.storage_filesystem, f"{trial.path}/{RESULTS}", results)


def note_a_start_over(trial, lost: int) -> None:
    """Add to the trial's ``STARTED_OVER`` that it starts over with ``lost`` epochs logged (no
    checkpoint it could go on from: damaged, gone, or none written yet); none where it logged
    none. Into the storage copy, which a new driver's staging copy lacks, and the staging copy,
    which Tune uploads over it."""
    if not lost:
        return
    fs, line = trial.storage.storage_filesystem, {"time": time.time(), "epochs_logged": lost}
    text = read(fs, f"{trial.path}/{STARTED_OVER}") + json.dumps(line) + "\n"
    fs.create_dir(trial.path, recursive=True)
    write_whole(fs, f"{trial.path}/{STARTED_OVER}", text.encode())
    Path(trial.local_path).mkdir(parents=True, exist_ok=True)
    (Path(trial.local_path) / STARTED_OVER).write_text(text)


def logged_epochs(text: str) -> int:
    """The last epoch whose line is whole in the text of a ``result.json``."""
    lines = results_up_to(text, math.inf).splitlines()
    return max((json.loads(line).get("training_iteration", 0) for line in lines), default=0)


def logged_results(trial) -> list[dict]:
    """The whole results in a trial's ``result.json`` in the storage, epoch by epoch (none
    where it has none yet)."""
    text = read(trial.storage.storage_filesystem, f"{trial.path}/{RESULTS}")
    results = [json.loads(line) for line in results_up_to(text, math.inf).splitlines()]
    return sorted(results, key=lambda result: result["training_iteration"])


def read(fs: pafs.FileSystem, path: str) -> str:
    """The text of the file at ``path``; empty where there is none."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return ""
    with fs.open_input_stream(path) as f:
        return f.read().decode(errors="replace")


def overwrite(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as f:
        f.write(data)


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
