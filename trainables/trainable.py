"""The Ray Tune function trainable: Ray's documented skeleton around ``trainables.trial.Trial``.

``tune.get_checkpoint()`` -> restore -> per epoch: train, evaluate, checkpoint, ``tune.report``.
Everything Ray-specific in a trial lives in this file.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import ray
from ray import tune

from trainables.checkpoints import PREFIX, trial_checkpoints
from trainables.device import choose_device
from trainables.trial import Trial, TrialFailure, TrialJob


def train_trial(config: dict, job: TrialJob) -> None:
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one line per checkpoint is noise
    # CUDA only if Ray gave this trial a GPU: it leaves GPUs visible to trials given none.
    share = ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)
    device = choose_device(ray.get_gpu_ids(), share)
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
            metrics = {**report.metrics, **node}
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
    """The trial's newest whole checkpoint in the storage, the others deleted.

    Not necessarily the one Tune hands over (``tune.get_checkpoint()``): after a driver was
    killed, that is the one of Tune's last snapshot, maybe deleted since, and newer ones may be
    there (``trainables.checkpoints.trial_checkpoints``). The next checkpoint goes into a new
    folder after this one's, never over a folder a restore could pick.
    """
    storage = tune.get_context().get_storage()
    fs = storage.storage_filesystem
    found = trial_checkpoints(fs, storage.trial_fs_path)
    newest = found[0][1] if found and found[0][0] is not None else None
    for _, folder in found:
        if folder != newest:  # older, or half written: never restored
            fs.delete_dir(folder)
    if newest is None:
        return None
    storage.current_checkpoint_index = int(newest.rsplit(PREFIX, 1)[1]) + 1
    return tune.Checkpoint(newest, filesystem=fs)
