"""Builds the Ray Tune run of a search: ASHA, the rule-checking searcher, resources, storage."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from ray import tune
from ray.tune.error import TuneError

from nas import storage
from nas.config import RunConfig
from nas.faults import not_counting_lost_nodes
from nas.logs import LogsFromCheckpoint
from nas.rungs import FairASHA
from nas.searcher import FeasibleSearch
from nas.storage import StorageFull
from search_spaces.base import SearchSpace
from trainables.trainable import train_trial
from trainables.trial import TrialJob

METRIC_COLUMNS = ["epoch", "train_loss", "val_loss", "val_acc", "lr", "params", "epoch_seconds"]


def baseline_config(space: SearchSpace, run: RunConfig) -> dict | None:
    """The seed preset as this run trains it; None without a seed trial."""
    return space.preset("seed") if run.seed_trial else None


def trainable_for(space: SearchSpace, run: RunConfig):
    return tune.with_resources(
        tune.with_parameters(train_trial, job=TrialJob(space, run)),
        {"cpu": run.cpus_per_trial, "gpu": run.gpus_per_trial or 0.0},  # None: none asked for
    )


def build_tuner(space: SearchSpace, run: RunConfig) -> tuple[tune.Tuner, FeasibleSearch]:
    """A fresh Tuner for ``run``; the searcher is returned too for its rejection count."""
    not_counting_lost_nodes()
    searcher = FeasibleSearch(
        space,
        sampler=run.searcher,
        seed=run.seed,
        max_epochs=run.max_epochs,
        num_samples=run.num_samples,
        points_to_evaluate=[space.preset("seed")] if run.seed_trial else [],
        rejected_log=storage.join(run.experiment_dir, "rejected.jsonl"),
    )
    scheduler = FairASHA(
        time_attr="training_iteration",
        max_t=run.max_epochs,
        grace_period=run.grace_period,
        reduction_factor=run.reduction_factor,
        baseline=baseline_config(space, run),
    )
    tuner = tune.Tuner(
        trainable_for(space, run),
        tune_config=tune.TuneConfig(
            metric=space.metric,
            mode=space.mode,
            search_alg=tune.search.ConcurrencyLimiter(searcher, run.max_concurrent),
            scheduler=scheduler,
            num_samples=run.num_samples,
            reuse_actors=True,  # the next trial starts in a warm worker: no process start-up
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=tune_run_config(space, run),
    )
    return tuner, searcher


def restore_tuner(space: SearchSpace, run: RunConfig) -> tune.Tuner:
    """The Tuner of an existing experiment, to continue it; a fresh one in its folder where the
    driver was killed before Tune's first snapshot (its trials were set aside as orphans)."""
    if not tune.Tuner.can_restore(run.experiment_dir):
        return build_tuner(space, run)[0]
    not_counting_lost_nodes()
    return tune.Tuner.restore(
        run.experiment_dir,
        trainable=trainable_for(space, run),
        resume_unfinished=True,
        resume_errored=False,  # failed trials stay failed; --max-failures is for retries
    )


def fit(tuner: tune.Tuner) -> tune.ResultGrid:
    """``tuner.fit()``; a full storage met while handling a trial's error comes out as itself
    (Tune re-raises what its error handlers raise as a ``TuneError`` of the traceback's text)."""
    try:
        return tuner.fit()
    except TuneError as e:
        if isinstance(e.__context__, StorageFull):
            raise e.__context__ from None
        raise


def tune_run_config(space: SearchSpace, run: RunConfig) -> tune.RunConfig:
    reporter = tune.CLIReporter(
        metric_columns=METRIC_COLUMNS,
        parameter_columns=list(space.progress_columns),
        max_report_frequency=15,
        sort_by_metric=True,
    )
    # Before Tune's own loggers, which it appends after these.
    callbacks = [LogsFromCheckpoint()] + ([wandb_callback(run)] if run.wandb else [])
    return tune.RunConfig(
        name=run.name,
        callbacks=callbacks,
        storage_path=run.storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=run.max_failures),
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


def wandb_callback(run: RunConfig) -> tune.Callback:
    """One W&B run per trial (id = trial id, so a resumed trial continues its run).

    Without an API key the runs are written offline (``wandb sync`` uploads them later). The
    key is only ever read from the environment or netrc by W&B itself: never logged or saved.
    """
    # W&B's Tune callback lives in ray.air; ray.tune does not re-export it.
    from ray.air.integrations.wandb import WandbLoggerCallback

    kwargs = {"resume": "allow"}
    where = "W&B's default folder"
    if not storage.is_uri(run.storage):
        kwargs["dir"] = run.experiment_dir  # offline runs land in <experiment>/wandb/
        Path(run.experiment_dir).mkdir(parents=True, exist_ok=True)
        where = f"{run.experiment_dir}/wandb"
    if os.environ.get("WANDB_MODE") in ("offline", "disabled") or not wandb_has_key():
        os.environ.setdefault("WANDB_MODE", "offline")
        kwargs["mode"] = os.environ["WANDB_MODE"]
        print(
            f"W&B: no API key found (WANDB_API_KEY or `wandb login`), or WANDB_MODE is set: "
            f"logging {kwargs['mode']} to {where}; upload later with `wandb sync`.",
            flush=True,
        )
    else:
        print(f"W&B: logging each trial to project {run.name!r}.", flush=True)
    # At the end Tune waits upload_timeout for the runs of trials still running, which after a
    # Ctrl-C never end on their own (the default waits 30 minutes before the driver can exit).
    return WandbLoggerCallback(project=run.name, group=run.name, upload_timeout=20, **kwargs)
