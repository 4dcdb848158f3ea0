"""W&B: one run per trial, holding every epoch once, across kills and resumes.

Ray's ``WandbLoggerCallback`` logs from the driver, through one logging actor per trial. A kill of
the driver loses what that actor had not written yet (offline: a run folder of 7 bytes, W&B's
header alone), and the resumed trial starts a new run with the same id from the epoch after its
checkpoint, so its first epochs were nowhere in W&B. The trial's ``result.json`` is durable
(``experiment.logs`` puts it into the storage with each checkpoint and cuts it back to the
checkpoint's epoch when the trial starts again), so it is the source: when a trial's W&B run
starts, ``WandbFromResults`` first logs the epochs ``result.json`` already holds, then the new
ones. The trial's earlier offline run folders move into ``wandb/superseded/``: the one offline
folder left per trial holds its whole history, and ``wandb sync
EXPERIMENT/wandb/offline-run-*`` uploads one run per trial with every epoch once. Online, a
resumed W&B run goes on from its last uploaded step and W&B drops (with a warning) the replayed
epochs it has already, so the replay only fills the gap. The key is only ever read from the
environment or netrc, by W&B itself.
"""

from __future__ import annotations

import contextlib
import netrc
import os
from pathlib import Path

from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

from driver.config import RunConfig
from experiment import storage
from experiment.logs import logged_results

SUPERSEDED = "superseded"  # inside the W&B folder: earlier offline folders of a resumed trial


class TornDownLoggingActor(_WandbLoggingActor):
    """Ray's logging actor of one trial's W&B run, which tears W&B down itself once the run is
    finished. Left to W&B's exit hook, the teardown came as Ray ended the actor, when W&B's
    service process could be gone already: a ``ConnectionResetError`` traceback on the console
    of a search that ended well (seen on a loaded machine, offline)."""

    def run(self):
        super().run()
        with contextlib.suppress(ConnectionError):  # the service went first: nothing left
            self._wandb.teardown()  # and its exit hook with it


class WandbFromResults(WandbLoggerCallback):
    _logger_actor_cls = TornDownLoggingActor  # Ray's hook for its logging actor's class

    def __init__(self, *args, folder: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.folder = folder  # where W&B writes its run folders, if local and known

    def log_trial_start(self, trial) -> None:
        if trial in self._trial_logging_futures:  # its W&B run is still open: goes on in it
            return
        self.set_aside_earlier_runs(trial.trial_id)
        super().log_trial_start(trial)
        for result in logged_results(trial):
            self.log_trial_result(result["training_iteration"], trial, result)

    def on_experiment_end(self, trials, **info) -> None:
        """Close every trial's W&B run, the runs of trials still running after a Ctrl-C
        included, and wait for them to be written (Ray's waits for runs that never end and
        then kills them, losing what a busy machine had not written yet)."""
        for trial in list(self._trial_queues):
            self._signal_logging_actor_stop(trial)
        super().on_experiment_end(trials, **info)

    def set_aside_earlier_runs(self, run_id: str) -> None:
        if self.folder is None:
            return
        for earlier in Path(self.folder).glob(f"offline-run-*-{run_id}"):
            (Path(self.folder) / SUPERSEDED).mkdir(exist_ok=True)
            earlier.rename(Path(self.folder) / SUPERSEDED / earlier.name)


def wandb_has_key() -> bool:
    """Whether W&B can log online: an API key in the environment or from ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_callback(run: RunConfig) -> WandbFromResults:
    """One W&B run per trial (id = trial id, so a resumed trial continues its run).

    Without an API key the runs are written offline (``wandb sync`` uploads them later).
    """
    kwargs = {"resume": "allow"}
    where, sync = "W&B's default folder", "`wandb sync`"
    if not storage.is_uri(run.storage):
        kwargs["dir"] = run.experiment_dir  # offline runs land in <experiment>/wandb/
        Path(run.experiment_dir).mkdir(parents=True, exist_ok=True)
        where = f"{run.experiment_dir}/wandb"
        sync = f"`wandb sync {where}/offline-run-*`"
    if os.environ.get("WANDB_MODE") in ("offline", "disabled") or not wandb_has_key():
        os.environ.setdefault("WANDB_MODE", "offline")
        kwargs["mode"] = os.environ["WANDB_MODE"]
        print(
            f"W&B: no API key found (WANDB_API_KEY or `wandb login`), or WANDB_MODE is set: "
            f"logging {kwargs['mode']} to {where}; upload later with {sync}.",
            flush=True,
        )
    else:
        print(f"W&B: logging each trial to project {run.name!r}.", flush=True)
    # At the end every run is closed, and written within upload_timeout or given up (the
    # trials' result.json holds every epoch whatever happens to W&B's copy).
    return WandbFromResults(
        project=run.name,
        group=run.name,
        upload_timeout=180,
        folder=f"{kwargs['dir']}/wandb" if "dir" in kwargs else None,
        **kwargs,
    )
