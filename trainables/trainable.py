"""The Ray Tune function trainable: the documented skeleton around the plain loop.

``tune.get_checkpoint()`` -> restore -> per epoch: train, evaluate, checkpoint, ``tune.report``.
Everything Ray-specific in the trial lives in this file.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune
from torch.utils.data import DataLoader

from trainables.checkpoints import load_checkpoint, save_checkpoint
from trainables.loop import Training, pick_device, seed_everything
from trainables.tasks import load_task


@dataclass(frozen=True)
class TrialJob:
    """What every trial of one search shares (the config holds what differs)."""

    task: str
    decode: Callable[[dict], tuple[Any, Any]]  # config -> (model spec, TrainSettings)
    describe: Callable[[Any], dict[str, int]]  # spec -> params, macs, receptive_field
    data_dir: str
    max_epochs: int
    cpus_per_trial: float = 1.0
    val_fraction: float = 0.1
    train_limit: int | None = None  # use only the first N training images (quick searches)
    checkpoint_every: int = 1  # epochs; the last epoch is always checkpointed


def train_trial(config: dict, job: TrialJob) -> None:
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one line per checkpoint is noise
    torch.set_num_threads(max(1, int(job.cpus_per_trial)))
    spec, settings = job.decode(config)
    seed = config["seed"]
    seed_everything(seed)
    data = load_task(job.task, job.data_dir, job.val_fraction, job.train_limit)
    training = Training(spec, settings, pick_device())
    architecture = job.describe(spec)

    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            load_checkpoint(Path(folder), training)

    loader_rng = torch.Generator()
    loader = DataLoader(
        data.train,
        batch_size=settings.batch_size,
        shuffle=True,
        generator=loader_rng,
        pin_memory=training.cuda,
    )
    while training.epoch < job.max_epochs:
        # Each epoch's shuffling and augmentation depend on (seed, epoch) only, so an epoch run
        # after a restore is the epoch that would have run without the interruption.
        epoch_seed = seed * 1_000 + training.epoch
        loader_rng.manual_seed(epoch_seed)
        data.reseed(epoch_seed)
        stats = training.train_epoch(loader, steps=len(loader))
        val_loss, val_acc = training.evaluate(data.val_x, data.val_y)
        metrics = {
            "epoch": training.epoch,
            "train_loss": stats.loss,
            "train_acc": stats.acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": stats.lr,
            "epoch_seconds": stats.seconds,
            **architecture,
        }
        last = training.epoch == job.max_epochs
        if last or training.epoch % job.checkpoint_every == 0:
            with tempfile.TemporaryDirectory() as folder:
                extra = {
                    "metrics": metrics,
                    "stats": {"mean": data.stats.mean, "std": data.stats.std},
                }
                save_checkpoint(Path(folder), training, config, spec, extra)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report(metrics)
