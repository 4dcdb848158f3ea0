"""One trial, epoch by epoch, with no Ray: the Ray trainable wraps it, a replay reruns it.

``Trial`` builds the data, model and optimizer from a config, restores a checkpoint if given,
and ``epochs()`` yields one ``EpochReport`` per epoch: the metrics, and a function that writes
the checkpoint when one is due. Each epoch's shuffling and augmentation are seeded from
(trial seed, epoch), and the generator states travel in the checkpoint, so an epoch run after a
restore is the epoch that would have run without the interruption.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from trainables.checkpoints import load_checkpoint, save_checkpoint
from trainables.data.batched import DeviceBatches, StreamedBatches
from trainables.device import Device, choose_device, is_out_of_memory
from trainables.loop import NonFiniteLoss, Training, seed_everything
from trainables.models.analysis import analyze
from trainables.tasks import cached_task, get_task


@dataclass(frozen=True)
class TrialSettings:
    """What a trial reads of its run (``driver.config.RunConfig`` has these fields and more)."""

    data_dir: str
    val_fraction: float  # of the training files held out to validate (not in a refit)
    train_images: int | None  # only the first N training images; None: all
    max_epochs: int
    cpus_per_trial: float  # torch threads, and loader workers beside the first
    gpus_per_trial: float | None  # the trial's share of a GPU (resources; None: none asked)
    checkpoint_every: int  # epochs; the last epoch always
    compile: bool  # torch.compile the model's forward

    @classmethod
    def of(cls, run: Any, **derived) -> TrialSettings:
        """The fields of ``run``, and of ``derived`` (what the driver derived) where given."""
        return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(cls)} | derived)


@dataclass(frozen=True)
class TrialJob:
    """What every trial of one search shares (the config holds what differs)."""

    # search_spaces.SearchSpace as the run searches it: its task, and decode (config -> model
    # spec and training recipe) with the run's fixed values
    space: Any
    # the run's settings a trial reads (a RunConfig given here is cut down to them)
    run: TrialSettings
    # a refit's configurations by name (nas.refit), None in a search: every training image
    # trains, and each model is scored once, after its last epoch, on the split a final model
    # is judged by (test, or dev where test is unlabelled)
    refit: dict[str, dict] | None = None

    def __post_init__(self):
        if not isinstance(self.run, TrialSettings):
            object.__setattr__(self, "run", TrialSettings.of(self.run))


@dataclass(frozen=True)
class EpochReport:
    metrics: dict[str, Any]
    save: Callable[[Path], None] | None  # writes the checkpoint into a folder, when one is due


class TrialFailure(Exception):
    """A trial that raised; the message starts with its kind (oom, nan or error)."""

    @classmethod
    def of(cls, error: BaseException) -> TrialFailure:
        return cls(f"{failure_kind(error)}: {type(error).__name__}: {error}")


def failure_kind(error: BaseException) -> str:
    if isinstance(error, NonFiniteLoss):
        return "nan"
    return "oom" if is_out_of_memory(error) else "error"


class Trial:
    def __init__(
        self,
        config: dict,
        job: TrialJob,
        checkpoint: Path | None = None,
        device: Device | None = None,  # default: the GPU if one is visible, else the CPU
    ):
        space, run = job.space, job.run
        torch.set_num_threads(max(1, int(run.cpus_per_trial)))
        self.config, self.job, self.run = config, job, run
        self.spec, self.recipe = space.decode(config)
        self.seed = config["seed"]
        seed_everything(self.seed)
        val_fraction = None if job.refit is not None else run.val_fraction
        self.data = cached_task(
            space.task, run.data_dir, val_fraction, run.train_images, self.spec.image_size
        )
        self.device = device or choose_device()
        self.device.prepare()
        self.training = Training(self.spec, self.recipe, self.device, run.compile)
        if checkpoint is not None:
            load_checkpoint(checkpoint, self.training)
        self.architecture = analyze(self.spec).figures()
        self.val_x, self.val_y = self.data.val_x, self.data.val_y
        task, where = get_task(space.task), self.device.torch_device
        train, batch = self.data.train, self.recipe.batch_size
        augment = task.batch_augment(self.data.stats)
        if augment is not None and task.streams:
            # uint8 batches from the memory-mapped cache, augmented on the device; loader
            # workers take the trial's other CPUs.
            workers = max(0, int(run.cpus_per_trial) - 1)
            self.loader = StreamedBatches(
                train.images, train.labels, batch, augment, where, workers
            )
        elif augment is not None and self.device.resident_data:
            # The whole set lives on the device; augmentation is a few batched tensor ops there,
            # and validation reads tensors already in place.
            self.loader = DeviceBatches(train.images, train.labels, batch, augment, where)
            self.val_x, self.val_y = self.val_x.to(where), self.val_y.to(where)
        else:
            self._loader_rng = torch.Generator()  # shuffling, reseeded every epoch
            self.loader = DataLoader(
                self.data.train,
                batch_size=self.recipe.batch_size,
                shuffle=True,
                generator=self._loader_rng,
                pin_memory=self.device.cuda,
            )

    def epochs(self) -> Iterator[EpochReport]:
        """Train the remaining epochs; a non-finite loss ends the trial with a last report."""
        training = self.training
        while training.epoch < self.run.max_epochs:
            self._reseed(self.seed * 1_000 + training.epoch)
            try:
                stats = training.train_epoch(self.loader, steps=len(self.loader))
            except NonFiniteLoss as e:
                yield EpochReport(self._diverged(str(e)), save=None)
                return
            last = training.epoch == self.run.max_epochs
            metrics = {
                "epoch": training.epoch,
                "train_loss": stats.loss,
                "train_acc": stats.acc,
                **(self._scores() if last or self.job.refit is None else {}),
                "lr": stats.lr,
                "epoch_seconds": stats.seconds,
                "first_batch_at": training.first_batch_at,  # start-up = this - trial start
                "first_step_at": training.first_step_at,
                **self.device.memory(),
                **self.architecture,
            }
            due = last or training.epoch % self.run.checkpoint_every == 0
            yield EpochReport(metrics, self._save(metrics) if due else None)

    def _reseed(self, epoch_seed: int) -> None:
        if isinstance(self.loader, DataLoader):
            self._loader_rng.manual_seed(epoch_seed)
            self.data.reseed(epoch_seed)
        else:
            self.loader.reseed(epoch_seed)

    def _scores(self) -> dict[str, float]:
        """Loss and accuracy on the held-out split (``val_`` or ``test_``), and the
        verification scores for tasks that have them (``TaskData.verify``)."""
        loss, acc = self.training.evaluate(self.val_x, self.val_y)
        held_out = self.data.scored_as
        scores = {f"{held_out}_loss": loss, f"{held_out}_acc": acc}
        verify = self.data.verify
        return scores if verify is None else scores | verify.scores(self.training.embed)

    def _diverged(self, detail: str) -> dict[str, Any]:
        # A diverged network is scored as the worst possible accuracy: the rung comparisons of
        # ASHA stay correct (NaN would compare as neither better nor worse) and the searcher
        # learns the region is bad. The epoch counts as trained, so the iteration advances.
        return {
            "epoch": self.training.epoch + 1,
            "train_loss": float("nan"),
            f"{self.data.scored_as}_loss": float("nan"),
            "train_acc": 0.0,
            f"{self.data.scored_as}_acc": 0.0,
            **({"verify_acc": 0.0} if self.data.verify else {}),
            "failure": "nan",
            "failure_detail": detail,
            **self.architecture,
        }

    def _save(self, metrics: dict) -> Callable[[Path], None]:
        stats = dataclasses.asdict(self.data.stats)
        extra = {"metrics": metrics, "stats": stats, "classes": list(self.data.classes)}
        return lambda folder: save_checkpoint(folder, self.training, self.config, self.spec, extra)
