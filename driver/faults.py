"""Faults of the cluster, not of the candidate: a node that dies, a storage that fills up.

A trial whose node died goes on from its checkpoint elsewhere: Tune counts every death of a
trial's worker against ``--max-failures`` unless Ray calls it a preemption (a node drained by
the autoscaler). A node that crashes, is killed or drops off the network is the same event for
the candidate, so here it is not counted either: the trial is requeued and restores its last
checkpoint on a node that is alive, even at ``--max-failures 0``. Ray reports the loss as soon as
the trial's worker stops answering (``ActorUnavailableError``, ``ActorDiedError``), about 15 s
before its health checks declare the node dead, so the kind of error decides: the trial's own
code can only fail by raising, and ``trainables.trainable`` wraps whatever it raises in
``TrialFailure`` (a ``RayTaskError``, counted as before). A worker that keeps vanishing (killed
by the kernel for its memory, say) counts from its fourth loss on. Each loss is one line of
``node_lost.jsonl`` in the trial's folder; the reports read it.

A trial that could not write for want of space (its checkpoint into a full storage, most
likely) stops the search, since no trial would get further, uncounted: ``StorageFull`` leaves
``Tuner.fit`` before Tune saves the trial as failed, so the experiment resumes from its last
snapshot once there is space.

A trial whose snapshot names a checkpoint that is gone restores from the one it goes on from
(``RestoreWhatIsThere``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.fs as pafs
from ray import tune

from experiment.layout import NODE_LOST
from experiment.storage import StorageFull, is_full
from searchers.ray_compat import hand_over, wrap_trial_errors
from trainables.trainable import restore_point

UNCOUNTED = 3  # losses per trial that do not count against --max-failures


def is_lost_worker(error: BaseException | None) -> bool:
    """Whether ``error`` says the trial's worker vanished, rather than its code raising."""
    from ray.exceptions import RayActorError

    return isinstance(error, RayActorError) and not error.actor_init_failed


def losses(trial) -> list[dict]:
    path = Path(trial.local_path or "") / NODE_LOST
    if not trial.local_path or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record_loss(trial, error: BaseException) -> None:
    last = trial.last_result or {}
    entry = {
        "time": time.time(),
        "after_epoch": last.get("training_iteration", 0),
        "node_id": last.get("node_id"),  # where it last reported
        "error": str(error).splitlines()[0][:300],
    }
    folder = Path(trial.local_path)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / NODE_LOST, "a") as f:
        f.write(json.dumps(entry) + "\n")


def not_counting_lost_nodes() -> None:
    """Make Tune's trials in this driver treat lost workers and a full storage as above
    (idempotent; ``searchers.ray_compat.wrap_trial_errors``)."""
    wrap_trial_errors(handle_error)


def handle_error(tune_handle_error, trial, error=None) -> None:
    """Tune's handling of a trial's error, then the count put back for a fault."""
    counted = trial.run_metadata.num_failures
    tune_handle_error(trial, error)
    if is_full(error):
        trial.run_metadata.num_failures = counted
        line = str(error).strip().splitlines()[-1]
        raise StorageFull(f"trial {trial.trial_id} could not write ({line})")
    if not is_lost_worker(error) or not trial.local_path:
        return
    uncounted = len(losses(trial)) < UNCOUNTED
    record_loss(trial, error)
    if uncounted:  # requeued from its checkpoint, even at --max-failures 0
        trial.run_metadata.num_failures = counted


class RestoreWhatIsThere(tune.Callback):
    """Tune keeps one checkpoint per trial: it deletes the one before once the next is in, and
    names the new one in its next snapshot, some seconds later. A driver killed in between
    leaves a snapshot naming a checkpoint that is gone, and the resumed trial failed ("Could
    not recover from checkpoint as it does not exist on storage anymore"). Before Tune restores
    such a trial, it is handed the checkpoint it goes on from (``restore_point``: the newest
    whole one whose epoch its logs hold), or none, and it starts over."""

    def on_trial_start(self, iteration, trials, trial, **info):
        handed = trial.latest_checkpoint_result
        if handed is None or handed.checkpoint is None:
            return
        fs = trial.storage.storage_filesystem
        if fs.get_file_info(handed.checkpoint.path).type != pafs.FileType.NotFound:
            return
        point = restore_point(fs, trial.path)
        hand_over(trial, tune.Checkpoint(point[1], filesystem=fs) if point else None)
