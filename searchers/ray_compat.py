"""Every use of Ray Tune's private API, in one place; ``tests/searchers/test_compat.py`` (and, for
``hand_over``, ``tests/driver/test_faults.py``) pins what each relies on, so a Ray upgrade that
changes one fails there first, not in a search.

- ``wrap_trial_errors``: Tune has no hook between a trial's error and its decision to retry it
  (``should_recover`` reads ``run_metadata.num_failures`` right after ``Trial.handle_error``),
  so ``driver.faults`` wraps that method.
- ``asha_metric``, ``asha_time``, ``take_back_stop``: ``searchers.rungs.FairASHA`` feeds ASHA each
  trial's best metric so far (in ASHA's sign) and overrules a stop of the baseline;
  ``asha_record`` enters a restored trial's logged result in its rung without a decision.
- ``hand_over``: Tune restores a trial from the checkpoint its trial state names (the checkpoint
  manager's latest result) and deletes the ones the manager keeps (``_checkpoint_results``)
  once the next is in; ``driver.faults.RestoreWhatIsThere`` replaces one that is gone.
- ``session_folder``: where a local Ray instance keeps its session files ($RAY_TMPDIR, else
  $TMPDIR, else /tmp; ``driver.cluster.check_ray_folders`` checks it before Ray starts, which would
  fail there with a traceback).
- ``recount_generator``: the search generator's snapshot (``search_gen_state-*.json``) keeps
  how many trials it made, how many it may make and which ones its concurrency limiter waits
  for; ``driver.resume`` sets them from the trial list of the snapshot it resumes from and the
  run's ``--num-samples`` (Tune takes the count from the snapshot, not from the Tuner).
- ``relocate_generator``: the same snapshot keeps the experiment the generator makes trials of,
  with the storage folder it had when the search started: new trials of an experiment moved
  or copied since would be written there. ``driver.resume`` points it where the folder is now,
  as Tune does with the restored trials.
- ``restored_reporter``: ``Tuner.restore`` takes the console's reporter from ``tuner.pkl``, as the
  experiment was first started, with no way to give another; ``driver.tuner`` points the one it
  restored at the folder where the experiment is now.
- ``driver.wandb_logs`` subclasses Ray's ``_WandbLoggingActor`` (set as the callback's
  ``_logger_actor_cls``) to tear W&B down when a trial's run is finished; it imports W&B, so it
  lives there, imported only with ``--wandb``; ``tests/searchers/test_compat.py`` pins it.
- ``local_ray_processes``: a SIGTERM to the driver's whole process group (Slurm's, or ``kill --
  -PID``) stops Ray's own processes too; ``driver.interrupts`` watches them to stop at once then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler

LIMITER = "name:ConcurrencyLimiter"  # the concurrency limiter's state in the generator's


def wrap_trial_errors(wrapper: Callable[[Callable, Any, BaseException | None], None]) -> None:
    """Make ``Trial.handle_error(trial, error)`` call ``wrapper(tune_handle_error, trial,
    error)`` in this process; idempotent (Tune's own method is the one wrapped, once)."""
    from ray.tune.experiment import Trial

    tune_handle_error = getattr(Trial.handle_error, "tune_handle_error", Trial.handle_error)

    def handle_error(trial: Trial, error=None) -> None:
        wrapper(tune_handle_error, trial, error)

    handle_error.tune_handle_error = tune_handle_error
    Trial.handle_error = handle_error


def asha_metric(scheduler: AsyncHyperBandScheduler) -> tuple[str, float]:
    """The metric ASHA compares and its sign (1 to maximise, -1 to minimise)."""
    return scheduler._metric, scheduler._metric_op


def asha_time(scheduler: AsyncHyperBandScheduler) -> tuple[str, int]:
    """The result key ASHA counts time in, and its last (``max_t``)."""
    return scheduler._time_attr, scheduler._max_t


def asha_record(scheduler: AsyncHyperBandScheduler, trial, result: dict) -> None:
    """Record ``result`` at the rung it reaches in ``trial``'s bracket, as ASHA does with a
    trial's results, its decision left unused."""
    metric, sign = asha_metric(scheduler)
    time_attr, _ = asha_time(scheduler)
    if metric in result and time_attr in result and result[metric] is not None:
        bracket = scheduler._trial_info[trial.trial_id]
        bracket.on_result(trial, result[time_attr], sign * result[metric])


def take_back_stop(scheduler: AsyncHyperBandScheduler) -> None:
    """Uncount a stop ASHA decided that the caller turns into CONTINUE."""
    scheduler._num_stopped -= 1


def recount_generator(state: dict, made: int, unfinished: set[str], total: int) -> bool:
    """Set a search generator's state to ``made`` trials of ``total`` (a grown search asks for
    more than it was started with), its concurrency limiter (if any) waiting for
    ``unfinished``; False where it said so already (nothing to write)."""
    limiter = state.get(LIMITER, {})
    counted = state.get("counter") == made and state.get("total_samples") == total
    if counted and limiter.get("live_trials", unfinished) == unfinished:
        return False
    state["counter"], state["total_samples"] = made, total
    state["finished"] = made >= total
    if limiter:
        limiter["live_trials"], limiter["num_unfinished_live_trials"] = unfinished, len(unfinished)
    return True


def relocate_generator(state: dict, storage_fs_path: str, name: str) -> bool:
    """Make the trials a search generator's state makes live in ``storage_fs_path``/``name``
    (a path in the storage's file system); False where they did already."""
    experiment = state.get("experiment")
    storages = [
        getattr(experiment, "storage", None),
        getattr(experiment, "spec", {}).get("storage"),
    ]
    moved = False
    for storage in filter(None, storages):
        if (storage.storage_fs_path, storage.experiment_dir_name) != (storage_fs_path, name):
            storage.storage_fs_path, storage.experiment_dir_name = storage_fs_path, name
            moved = True
    return moved


def hand_over(trial, checkpoint) -> None:
    """Make Tune restore ``trial`` from ``checkpoint`` (a ``tune.Checkpoint``; None: train it
    from its start) instead of the one its trial state names, and keep only that one: Tune
    deletes the checkpoints it keeps once the next is in, and deleting one that is gone raises
    (``_delete_fs_path`` looks before its ``try``), a traceback that skips the rest of Tune's
    bookkeeping of that checkpoint."""
    manager = trial.run_metadata.checkpoint_manager
    if checkpoint is None:
        manager._latest_checkpoint_result = None
    else:
        manager._latest_checkpoint_result.checkpoint = checkpoint
    kept = manager._latest_checkpoint_result
    manager._checkpoint_results = [kept] if kept else []


def session_folder() -> str:
    """The folder a local Ray instance started now keeps its session files in."""
    from ray._common.utils import get_default_ray_temp_dir

    return get_default_ray_temp_dir()


def local_ray_processes() -> list:
    """The processes (``subprocess.Popen``) of the local Ray instance this driver started: GCS
    server, raylet, log monitor...; none where it joined a cluster (``--address``)."""
    from ray._private import worker

    node = worker._global_node
    if node is None:
        return []
    return [info.process for infos in node.all_processes.values() for info in infos]


def restored_reporter(tuner) -> Any:
    """The progress reporter a restored ``tune.Tuner`` will print with (None if it has none)."""
    return tuner._local_tuner._run_config.progress_reporter
