"""Builds the Ray Tune run of a search (ASHA, the rule-checking searcher) or of a refit (a grid
of configurations and seeds): resources, storage, retries, logs."""

from __future__ import annotations

from ray import tune
from ray.tune.error import TuneError

from driver.config import RunConfig
from driver.faults import RestoreWhatIsThere, not_counting_lost_nodes
from driver.plan import Plan
from driver.progress import Progress
from driver.warm_start import earlier_knowledge
from experiment import storage
from experiment.layout import ORPHANED, REJECTED_LOG, STUDY
from experiment.logs import LogsFromCheckpoint
from experiment.storage import StorageFull
from search_spaces.base import Config, SearchSpace
from searchers.feasible import FeasibleSearch
from searchers.ray_compat import restored_reporter
from searchers.rungs import FairASHA, ParetoASHA
from trainables.tasks import get_task
from trainables.trainable import train_trial
from trainables.trial import TrialJob, TrialSettings

REFIT_COLUMNS = ("candidate", "seed")  # a refit trial's config: which configuration, which seed


def baseline_config(space: SearchSpace, run: RunConfig) -> dict | None:
    """The seed preset as this run trains it; None without a seed trial."""
    return space.preset("seed") if run.seed_trial else None


def trainable_for(job: TrialJob):
    run = job.run
    return tune.with_resources(
        tune.with_parameters(train_trial, job=job),
        {"cpu": run.cpus_per_trial, "gpu": run.gpus_per_trial or 0.0},  # None: none asked for
    )


def job_of(space: SearchSpace, run: RunConfig, plan: Plan, refit=None) -> TrialJob:
    """What every trial of the run shares: the space, and the run's settings a trial reads,
    with the GPUs per trial the driver planned."""
    settings = TrialSettings.of(run, gpus_per_trial=plan.gpus_per_trial)
    return TrialJob(space, settings, refit=refit)


def build_tuner(
    space: SearchSpace, run: RunConfig, plan: Plan, earlier: tuple | None = None
) -> tuple[tune.Tuner, FeasibleSearch]:
    """A fresh Tuner for ``run`` as ``plan`` places it; the searcher is returned too for its
    rejection count. ``earlier``: ``driver.warm_start.earlier_knowledge`` where the caller read
    it already."""
    not_counting_lost_nodes()
    carried, first = earlier or earlier_knowledge(run, space)
    searcher = FeasibleSearch(
        space,
        sampler=run.searcher,
        seed=run.seed,
        max_epochs=run.max_epochs,
        num_samples=run.num_samples,
        points_to_evaluate=([space.preset("seed")] if run.seed_trial else []) + first,
        warm_start=carried,
        rejected_log=storage.join(run.experiment_dir, REJECTED_LOG),
        journal=study_journal(run),
        name=run.name,
        sizes=run.sizes,
    )
    rungs = {
        "max_t": run.max_epochs,
        "grace_period": plan.grace_period,
        "reduction_factor": run.reduction_factor,
        "baseline": baseline_config(space, run),
    }
    if run.sizes:  # a Pareto search: rungs by non-dominated sorting
        scheduler = ParetoASHA(space.metric, space.mode, run.sizes, **rungs)
    else:
        scheduler = FairASHA(time_attr="training_iteration", **rungs)
    tuner = tune.Tuner(
        trainable_for(job_of(space, run, plan)),
        tune_config=tune.TuneConfig(
            metric=space.metric,
            mode=space.mode,
            search_alg=tune.search.ConcurrencyLimiter(searcher, plan.max_concurrent),
            scheduler=scheduler,
            num_samples=run.num_samples,
            reuse_actors=True,  # the next trial starts in a warm worker: no process start-up
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=tune_run_config(
            run,
            Progress(
                space.progress_columns,
                [space.metric],
                run.max_epochs,
                asha=True,
                baseline=baseline_config(space, run),
                experiment=run.experiment_dir,
            ),
        ),
    )
    return tuner, searcher


def study_journal(run: RunConfig) -> str | None:
    """Where the search's Optuna study is kept: a journal file in the experiment folder; None
    (in memory, saved with Tune's snapshots) on a URI, where files cannot be appended to."""
    return None if storage.is_uri(run.experiment_dir) else storage.join(run.experiment_dir, STUDY)


def build_refit_tuner(
    space: SearchSpace, run: RunConfig, plan: Plan, configs: dict[str, Config], seeds: list[int]
) -> tune.Tuner:
    """Every configuration of a refit trained with every seed to ``run.max_epochs``: no
    searcher, no early stopping, seed by seed (each seed's models side by side first)."""
    not_counting_lost_nodes()
    scores = ["test_acc"] if get_task(space.task).has_test_labels else list(space.metrics)
    grid = {"seed": tune.grid_search(seeds), "candidate": tune.grid_search(list(configs))}
    return tune.Tuner(
        trainable_for(job_of(space, run, plan, refit=configs)),
        param_space=grid,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=plan.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda t: (
                f"trial_{t.config['candidate']}_seed{t.config['seed']}"
            ),
        ),
        run_config=tune_run_config(
            run, Progress(REFIT_COLUMNS, scores, run.max_epochs, asha=False)
        ),
    )


def restore_tuner(space: SearchSpace, run: RunConfig, plan: Plan, refit=None) -> tune.Tuner:
    """The Tuner of an existing experiment (or refit: ``refit`` = its configurations and
    seeds), to continue it; a fresh one in its folder where the driver was killed before Tune's
    first whole snapshot (its trials were set aside as orphans)."""
    if not tune.Tuner.can_restore(run.experiment_dir) or not snapshot_left(run.experiment_dir):
        if refit:
            return build_refit_tuner(space, run, plan, *refit)
        if (journal := study_journal(run)) and storage.exists(journal):  # its trials were too
            storage.move(journal, storage.join(run.experiment_dir, ORPHANED, STUDY))
        return build_tuner(space, run, plan)[0]
    not_counting_lost_nodes()
    job = job_of(space, run, plan, refit=refit[0] if refit else None)
    tuner = tune.Tuner.restore(
        run.experiment_dir,
        trainable=trainable_for(job),
        resume_unfinished=True,
        resume_errored=False,  # failed trials stay failed; --max-failures is for retries
    )
    if isinstance(reporter := restored_reporter(tuner), Progress) and reporter.experiment:
        reporter.experiment = run.experiment_dir  # where it is now: it may have moved
    return tuner


def snapshot_left(folder: str) -> bool:
    """Whether a Tune snapshot of the trials is left in ``folder`` after the resume set aside
    the torn ones. Without one Tune would start afresh from tuner.pkl, whose searcher is the one
    the experiment started with (its study where the folder was then): built anew instead."""
    return any(f.rsplit("/", 1)[-1].startswith("experiment_state-") for f in storage.files(folder))


def fit(tuner: tune.Tuner) -> tune.ResultGrid:
    """``tuner.fit()``; a full storage met while handling a trial's error comes out as itself
    (Tune re-raises what its error handlers raise as a ``TuneError`` of the traceback's text)."""
    try:
        return tuner.fit()
    except TuneError as e:
        if isinstance(e.__context__, StorageFull):
            raise e.__context__ from None
        raise


def tune_run_config(run: RunConfig, progress: Progress) -> tune.RunConfig:
    """Storage, checkpoints, retries, logs and the console (``progress``) of a search or refit."""
    # Before Tune's own loggers, which it appends after these.
    callbacks: list[tune.Callback] = [RestoreWhatIsThere(), LogsFromCheckpoint()]
    if run.wandb:
        from driver.wandb_logs import wandb_callback  # imports W&B: only when asked for

        callbacks.append(wandb_callback(run))
    return tune.RunConfig(
        name=run.name,
        callbacks=callbacks,
        storage_path=run.storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=run.max_failures),
        progress_reporter=progress,
        verbose=1,
    )
