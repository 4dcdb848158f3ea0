"""The Ray Tune function trainable: Ray's documented skeleton around ``trainables.trial.Trial``.

``tune.get_checkpoint()`` -> restore -> per epoch: train, evaluate, checkpoint, ``tune.report``.
Everything Ray-specific in a trial lives in this file.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pyarrow.fs as pafs
import ray
from ray import tune
from ray.tune.result import EXPR_RESULT_FILE, TRAINING_ITERATION

from trainables.checkpoints import PREFIX, trial_checkpoints
from trainables.device import choose_device
from trainables.trial import Trial, TrialFailure, TrialJob


def train_trial(config: dict, job: TrialJob) -> None:
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one line per checkpoint is noise
    # CUDA only if Ray gave this trial a GPU: it leaves GPUs visible to trials given none.
    share = ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)
    device = choose_device(ray.get_gpu_ids(), share)
    if job.refit is not None:  # a refit trial's config names one of its configurations
        config = {**job.refit[config["candidate"]], "seed": config["seed"]}
    try:
        checkpoint = newest_checkpoint()
        if checkpoint:
            with checkpoint.as_directory() as folder:
                trial = Trial(config, job, Path(folder), device)
        else:
            trial = Trial(config, job, device=device)
        # Which Ray node ran the epoch (Tune's own node_ip is the same for nodes on one host).
        node = {"node_id": ray.get_runtime_context().get_node_id()}
        for report in trial.epochs():
            # Tune counts iterations on from the checkpoint it handed over; the trial went on
            # from ``restore_point``'s (after a kill, a newer one; a damaged one: none, and it
            # started over). The epoch is the iteration, so logs, ASHA and the study agree.
            metrics = {**report.metrics, **node, TRAINING_ITERATION: report.metrics["epoch"]}
            if report.save is None:
                tune.report(metrics)
                continue
            with tempfile.TemporaryDirectory() as folder:
                report.save(Path(folder))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
    except Exception as error:
        # Tune records the last line of the traceback in error.txt: make it say what kind.
        raise TrialFailure.of(error) from error
    finally:
        # The next trial in this reused worker starts with the memory freed (the last report's
        # save function holds the trial too).
        report = trial = None
        device.release()


def newest_checkpoint() -> tune.Checkpoint | None:
    """The checkpoint this trial goes on from (``restore_point``), the others but Tune's deleted.

    Not necessarily the one Tune hands over (``tune.get_checkpoint()``), which is the one of
    Tune's last snapshot: after a driver was killed, that one may have been deleted since and
    newer ones may be there. The next checkpoint goes into a new folder after this one's, never
    over a folder a restore could pick.
    """
    storage = tune.get_context().get_storage()
    fs = storage.storage_filesystem
    found = trial_checkpoints(fs, storage.trial_fs_path)
    chosen = restore_point(fs, storage.trial_fs_path, found)
    # The one Tune handed over stays: its snapshot names it until the next snapshot, and a
    # driver killed before that restores from it again (Tune refuses a checkpoint that is gone).
    # Tune deletes it itself once this trial's next checkpoint is in.
    handed = tune.get_checkpoint()
    kept = {chosen[1] if chosen else None, handed.path if handed else None} - {None}
    for _, folder in found:
        if folder not in kept:  # unlogged, superseded or half written
            fs.delete_dir(folder)
    if kept:  # the next checkpoint goes into a folder after both
        storage.current_checkpoint_index = max(int(f.rsplit(PREFIX, 1)[1]) for f in kept) + 1
    return None if chosen is None else tune.Checkpoint(chosen[1], filesystem=fs)


def restore_point(
    fs: pafs.FileSystem, trial_folder: str, found: list[tuple[int | None, str]] | None = None
) -> tuple[int, str] | None:
    """(epoch, folder) of the checkpoint a trial goes on from: the newest whole one whose
    epoch's result is in the trial's ``result.json`` in the storage.

    A worker uploads a checkpoint before the driver logs its result, so a driver killed in
    between (its workers live on for a few seconds and finish their uploads) leaves a checkpoint
    of an epoch the logs never saw: going on from it would lose that epoch's line. The one
    before is still there, since Tune deletes a trial's older checkpoint only after
    ``experiment.logs`` has put the new one's result in the storage. None: the trial starts over.
    """
    logged = logged_epochs(fs, trial_folder)
    found = trial_checkpoints(fs, trial_folder) if found is None else found
    return next(((e, f) for e, f in found if e is not None and e <= logged), None)


def logged_epochs(fs: pafs.FileSystem, trial_folder: str) -> int:
    """The last training iteration whose result line is whole in the trial's result.json."""
    path = f"{trial_folder}/{EXPR_RESULT_FILE}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return 0
    with fs.open_input_stream(path) as f:
        lines = f.read().decode(errors="replace").splitlines(keepends=True)
    for line in reversed(lines):
        try:
            if line.endswith("\n"):
                return int(json.loads(line)["training_iteration"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0
