"""A trial restored from its checkpoint logs each epoch once."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap

import pytest

from experiment.logs import progress_up_to, results_up_to
from tests.conftest import REPO

RESULTS = "".join(json.dumps({"training_iteration": i, "val_acc": i / 10}) + "\n" for i in (1, 2))


def test_results_are_cut_back_to_the_checkpoint_and_a_half_line_goes():
    assert results_up_to(RESULTS + '{"training_iteration": 3, "val', 2) == RESULTS
    assert results_up_to(RESULTS, 1) == RESULTS.splitlines(keepends=True)[0]
    assert results_up_to(RESULTS, 0) == ""


def test_a_new_driver_starts_from_the_stored_logs_up_to_the_restore_point(tmp_path):
    """Killed after a checkpoint's result reached the storage but before Tune's snapshot named
    the checkpoint: Tune's loggers start from an empty staging copy (they download the stored
    one only for a checkpoint the snapshot names), which would replace the stored epochs."""
    from types import SimpleNamespace

    import pyarrow.fs as pafs

    from experiment.logs import LogsFromCheckpoint
    from trainables.checkpoints import MANIFEST

    stored, staged = tmp_path / "storage" / "trial_a", tmp_path / "staging" / "trial_a"
    checkpoint = stored / "checkpoint_000000"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.pt").write_bytes(b"12345")
    (checkpoint / MANIFEST).write_text(json.dumps({"epoch": 1, "files": {"model.pt": 5}}))
    (stored / "result.json").write_text(RESULTS)  # epoch 2's line, but no checkpoint of it
    (stored / "progress.csv").write_text("training_iteration,val_acc\n1,0.1\n2,0.2\n")
    storage = SimpleNamespace(storage_filesystem=pafs.LocalFileSystem())
    trial = SimpleNamespace(storage=storage, path=str(stored), local_path=str(staged))

    LogsFromCheckpoint().on_trial_start(0, [], trial)
    first = RESULTS.splitlines(keepends=True)[0]
    for folder in (stored, staged):  # the trial goes on from epoch 1 in both copies
        assert (folder / "result.json").read_text() == first
        assert (folder / "progress.csv").read_text() == "training_iteration,val_acc\n1,0.1\n"
    (staged / "result.json").write_text(RESULTS)  # a retry's replayed epoch 2, not checkpointed
    LogsFromCheckpoint().on_trial_start(0, [], trial)
    assert (staged / "result.json").read_text() == (stored / "result.json").read_text() == first


def test_progress_keeps_its_header_and_the_rows_up_to_the_checkpoint():
    progress = 'training_iteration,config/name\r\n1,"a,b"\r\n2,c\r\n3,d\r\n4,'
    assert progress_up_to(progress, 2) == 'training_iteration,config/name\r\n1,"a,b"\r\n2,c\r\n'
    assert progress_up_to(progress, 0) == "training_iteration,config/name\r\n"


# A trial that checkpoints at epochs 1 and 3 only and fails once at epoch 3: retried, it goes
# back to epoch 1 and runs epochs 2 and 3 again.
RETRIED = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import ray
    from ray import tune
    from experiment.logs import LogsFromCheckpoint
    from trainables.checkpoints import MANIFEST

    def trainable(config):
        start = 1
        if tune.get_checkpoint():
            with tune.get_checkpoint().as_directory() as folder:
                start = int(open(os.path.join(folder, "epoch")).read()) + 1
        for epoch in range(start, 4):
            if epoch == 2:
                tune.report({"epoch": epoch})
                continue
            if epoch == 3 and not os.path.exists(config["failed_once"]):
                open(config["failed_once"], "w").close()
                raise RuntimeError("a fault after epoch 2")
            with tempfile.TemporaryDirectory() as folder:
                open(os.path.join(folder, "epoch"), "w").write(str(epoch))
                whole = {"epoch": epoch, "files": {"epoch": len(str(epoch))}}  # as ours do
                open(os.path.join(folder, MANIFEST), "w").write(json.dumps(whole))
                tune.report({"epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(folder))

    storage = sys.argv[1]
    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")
    for name, callbacks in (("cut", [LogsFromCheckpoint()]), ("plain", [])):
        tune.Tuner(
            trainable,
            param_space={"failed_once": f"{storage}/{name}-failed-once"},
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage,
                callbacks=callbacks,
                failure_config=tune.FailureConfig(max_failures=1),
                verbose=0,
            ),
        ).fit()
    """
)


def logged_epochs(experiment) -> tuple[list[int], list[int]]:
    """The epochs in the trial's result.json and progress.csv, in order."""
    (trial,) = experiment.glob("trainable_*")
    results = (trial / "result.json").read_text().splitlines()
    with open(trial / "progress.csv", newline="") as f:
        progress = [int(row["epoch"]) for row in csv.DictReader(f)]
    return [json.loads(line)["epoch"] for line in results], progress


@pytest.mark.slow
def test_a_trial_retried_from_its_checkpoint_logs_each_epoch_once(tmp_path):
    command = [sys.executable, "-c", RETRIED, str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert logged_epochs(tmp_path / "cut") == ([1, 2, 3], [1, 2, 3])
    # Without it Tune logs the replayed epoch again.
    assert logged_epochs(tmp_path / "plain") == ([1, 2, 2, 3], [1, 2, 2, 3])
