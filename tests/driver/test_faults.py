"""A trial whose snapshot names a checkpoint that is gone restores from what is there, and
Tune's bookkeeping of its checkpoints goes on without the gone one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pyarrow.fs as pafs
from ray import tune
from ray.train._internal.checkpoint_manager import _CheckpointManager
from ray.train._internal.session import _TrainingResult

from driver.faults import RestoreWhatIsThere
from trainables.checkpoints import MANIFEST


def trial_handed(folder, name: str):
    """A trial as Tune restores it, its state naming checkpoint ``name``."""
    fs = pafs.LocalFileSystem()
    manager = _CheckpointManager(tune.CheckpointConfig(num_to_keep=1))  # as driver.tuner's
    manager.register_checkpoint(result(folder / name))
    trial = SimpleNamespace(
        run_metadata=SimpleNamespace(checkpoint_manager=manager),
        storage=SimpleNamespace(storage_filesystem=fs),
        path=str(folder),
    )
    trial.latest_checkpoint_result = manager._latest_checkpoint_result  # Trial's property
    return trial, manager


def result(path) -> _TrainingResult:
    return _TrainingResult(tune.Checkpoint(str(path), filesystem=pafs.LocalFileSystem()), {})


def checkpoint(folder, name: str, epoch: int) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "model.pt").write_bytes(b"12345")
    manifest = {"epoch": epoch, "files": {"model.pt": 5}}
    (folder / name / MANIFEST).write_text(json.dumps(manifest))


def test_a_checkpoint_that_is_gone_is_replaced_by_the_one_the_trial_goes_on_from(tmp_path):
    checkpoint(tmp_path, "checkpoint_000001", epoch=2)  # the next one: in, and in the logs
    (tmp_path / "result.json").write_text(
        "".join(json.dumps({"training_iteration": e}) + "\n" for e in (1, 2))
    )
    trial, manager = trial_handed(tmp_path, "checkpoint_000000")  # deleted before the snapshot
    RestoreWhatIsThere().on_trial_start(0, [], trial)
    assert manager._latest_checkpoint_result.checkpoint.path == str(tmp_path / "checkpoint_000001")
    # Its next checkpoint in, Tune deletes the one it went on from, not the gone one (which
    # raised FileNotFoundError out of register_checkpoint, a traceback in the resumed search).
    checkpoint(tmp_path, "checkpoint_000002", epoch=3)
    manager.register_checkpoint(result(tmp_path / "checkpoint_000002"))
    assert sorted(p.name for p in tmp_path.glob("checkpoint_*")) == ["checkpoint_000002"]


def test_with_no_checkpoint_to_go_on_from_the_trial_starts_over(tmp_path):
    trial, manager = trial_handed(tmp_path, "checkpoint_000000")
    RestoreWhatIsThere().on_trial_start(0, [], trial)
    assert manager._latest_checkpoint_result is None  # Tune trains it from its start
    checkpoint(tmp_path, "checkpoint_000001", epoch=1)  # its first epoch again
    manager.register_checkpoint(result(tmp_path / "checkpoint_000001"))
    assert [r.checkpoint.path for r in manager._checkpoint_results] == [
        str(tmp_path / "checkpoint_000001")
    ]


def test_a_checkpoint_that_is_there_is_left_as_handed(tmp_path):
    checkpoint(tmp_path, "checkpoint_000000", epoch=1)
    trial, manager = trial_handed(tmp_path, "checkpoint_000000")
    handed = manager._latest_checkpoint_result.checkpoint
    RestoreWhatIsThere().on_trial_start(0, [], trial)
    assert manager._latest_checkpoint_result.checkpoint is handed


def test_tune_restores_a_trial_from_its_checkpoint_manager_s_latest_result():
    """What ``ray_compat.hand_over`` relies on (pinned here: a Ray upgrade fails this first)."""
    from ray.tune.experiment import Trial

    trial = Trial("trainable", stub=True)
    handed = _TrainingResult(tune.Checkpoint("/nowhere/checkpoint_000000"), {})
    trial.run_metadata.checkpoint_manager._latest_checkpoint_result = handed
    assert trial.latest_checkpoint_result is handed
