"""Builds the Ray Tune run of a search: ASHA, the rule-checking searcher, resources, storage."""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass
from pathlib import Path

from ray import tune

from nas import storage
from nas.analyzer import analyze
from nas.logs import LogsFromCheckpoint
from nas.rungs import FairASHA
from nas.searcher import FeasibleSearch
from search_spaces.base import AshaDefaults, SearchSpace, decoder
from trainables.trainable import train_trial
from trainables.trial import TrialJob

METRIC_COLUMNS = ["epoch", "train_loss", "val_loss", "val_acc", "lr", "params", "epoch_seconds"]


@dataclass(frozen=True)
class SearchOptions:
    """Everything that shapes one search, from the command line to the trainable."""

    space: str
    name: str
    storage: str  # absolute local folder (or URI) holding the experiment folder
    data_dir: str
    num_samples: int
    max_epochs: int
    grace_period: int  # the first rung, after nas.rungs.first_rung
    reduction_factor: int
    searcher: str = "tpe"  # one of nas.samplers.SAMPLERS
    min_rung_steps: int = AshaDefaults.min_rung_steps  # steps before the first rung (in grace)
    seed: int = 0
    seed_trial: bool = True  # the space's seed preset is the first trial
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int = 1
    max_failures: int = 0
    val_fraction: float = 0.1
    train_limit: int | None = None
    checkpoint_every: int = 1
    wandb: bool = False  # log each trial as a W&B run (offline without an API key)
    metric: str = "val_acc"  # what ASHA and the searcher optimise
    max_params: int | None = None  # parameter budget; None: the space's own
    input_size: int | None = None  # fixes the space's input_size knob
    num_classes: int | None = None  # from the data
    compile: bool = False  # torch.compile each trial's model

    @property
    def experiment_dir(self) -> str:
        return storage.join(self.storage, self.name)


def fixed_config(options: SearchOptions) -> dict:
    return {"input_size": options.input_size} if options.input_size else {}


def baseline_config(space: SearchSpace, options: SearchOptions) -> dict | None:
    """The seed preset as this run trains it (fixed knobs applied); None without a seed trial."""
    return {**space.presets["seed"], **fixed_config(options)} if options.seed_trial else None


def architecture_metrics(spec) -> dict[str, int]:
    """The analyzer's figures reported with every epoch of a trial."""
    a = analyze(spec)
    return {"params": a.params, "macs": a.macs, "receptive_field": a.receptive_field}


def trial_job(space: SearchSpace, options: SearchOptions) -> TrialJob:
    """What every trial of the search shares; also what a replay of one trial needs."""
    return TrialJob(
        task=space.task,
        decode=decoder(space, options.num_classes),
        describe=architecture_metrics,
        data_dir=options.data_dir,
        max_epochs=options.max_epochs,
        cpus_per_trial=options.cpus_per_trial,
        val_fraction=options.val_fraction,
        train_limit=options.train_limit,
        checkpoint_every=options.checkpoint_every,
        compile=options.compile,
    )


def trainable_for(space: SearchSpace, options: SearchOptions):
    return tune.with_resources(
        tune.with_parameters(train_trial, job=trial_job(space, options)),
        {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial},
    )


def build_tuner(space: SearchSpace, options: SearchOptions) -> tuple[tune.Tuner, FeasibleSearch]:
    """A fresh Tuner for ``options``; the searcher is returned too for its rejection count."""
    searcher = FeasibleSearch(
        space,
        sampler=options.searcher,
        seed=options.seed,
        max_epochs=options.max_epochs,
        num_samples=options.num_samples,
        points_to_evaluate=[space.presets["seed"]] if options.seed_trial else [],
        rejected_log=storage.join(options.experiment_dir, "rejected.jsonl"),
        decode=decoder(space, options.num_classes),
        fixed=fixed_config(options),
    )
    scheduler = FairASHA(
        time_attr="training_iteration",
        max_t=options.max_epochs,
        grace_period=options.grace_period,
        reduction_factor=options.reduction_factor,
        baseline=baseline_config(space, options),
    )
    tuner = tune.Tuner(
        trainable_for(space, options),
        tune_config=tune.TuneConfig(
            metric=space.metric,
            mode=space.mode,
            search_alg=tune.search.ConcurrencyLimiter(searcher, options.max_concurrent),
            scheduler=scheduler,
            num_samples=options.num_samples,
            reuse_actors=True,  # the next trial starts in a warm worker: no process start-up
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=run_config(space, options),
    )
    return tuner, searcher


def restore_tuner(space: SearchSpace, options: SearchOptions) -> tune.Tuner:
    """The Tuner of an existing experiment, to continue it."""
    return tune.Tuner.restore(
        options.experiment_dir,
        trainable=trainable_for(space, options),
        resume_unfinished=True,
        resume_errored=False,  # failed trials stay failed; --max-failures is for retries
    )


def run_config(space: SearchSpace, options: SearchOptions) -> tune.RunConfig:
    reporter = tune.CLIReporter(
        metric_columns=METRIC_COLUMNS,
        parameter_columns=list(space.progress_columns),
        max_report_frequency=15,
        sort_by_metric=True,
    )
    # Before Tune's own loggers, which it appends after these.
    callbacks = [LogsFromCheckpoint()] + ([wandb_callback(options)] if options.wandb else [])
    return tune.RunConfig(
        name=options.name,
        callbacks=callbacks,
        storage_path=options.storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        progress_reporter=reporter,
        verbose=1,
    )


def wandb_has_key() -> bool:
    """Whether W&B can log online: an API key in the environment or from ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_callback(options: SearchOptions) -> tune.Callback:
    """One W&B run per trial (id = trial id, so a resumed trial continues its run).

    Without an API key the runs are written offline (``wandb sync`` uploads them later). The
    key is only ever read from the environment or netrc by W&B itself: never logged or saved.
    """
    # W&B's Tune callback lives in ray.air; ray.tune does not re-export it.
    from ray.air.integrations.wandb import WandbLoggerCallback

    kwargs = {"resume": "allow"}
    where = "W&B's default folder"
    if not storage.is_uri(options.storage):
        kwargs["dir"] = options.experiment_dir  # offline runs land in <experiment>/wandb/
        Path(options.experiment_dir).mkdir(parents=True, exist_ok=True)
        where = f"{options.experiment_dir}/wandb"
    if os.environ.get("WANDB_MODE") in ("offline", "disabled") or not wandb_has_key():
        os.environ.setdefault("WANDB_MODE", "offline")
        kwargs["mode"] = os.environ["WANDB_MODE"]
        print(
            f"W&B: no API key found (WANDB_API_KEY or `wandb login`), or WANDB_MODE is set: "
            f"logging {kwargs['mode']} to {where}; upload later with `wandb sync`.",
            flush=True,
        )
    else:
        print(f"W&B: logging each trial to project {options.name!r}.", flush=True)
    # At the end Tune waits upload_timeout for the runs of trials still running, which after a
    # Ctrl-C never end on their own (the default waits 30 minutes before the driver can exit).
    return WandbLoggerCallback(
        project=options.name, group=options.name, upload_timeout=20, **kwargs
    )
