"""W&B, offline as on a cluster without internet: one run per trial holding every epoch once,
across a kill of the driver and a resume; the API key never written anywhere."""

from __future__ import annotations

import json
import os
import signal

import pytest

from nas.wandb_logs import SUPERSEDED
from tests.conftest import run_module, start_nas_run
from tests.nas.test_resume_and_faults import epochs_of, wait_for
from tests.wandb_records import history

SECRET = "sk-never-print-this-0123456789"


@pytest.mark.slow
def test_every_epoch_reaches_wandb_once_across_a_kill_and_the_key_is_never_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    env |= {"WANDB_API_KEY": SECRET, "WANDB_MODE": "offline", "HOME": str(tmp_path)}
    flags = "--smoke-test --wandb --num-samples 2 --max-epochs 4 --grace-period 4"
    where = ["--storage", str(tmp_path / "exp"), "--name", "w"]
    experiment = tmp_path / "exp" / "w"
    driver = start_nas_run(
        "--space", "cifar_lt200k", *flags.split(), *where, env=env, killable=True
    )
    wait_for(lambda: sum(map(len, epochs_of(experiment).values())) >= 2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = epochs_of(experiment)
    print(json.dumps({"at the kill": before}))

    done = run_module("nas.run", *where, "--resume", "--smoke-test", env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    epochs = epochs_of(experiment)
    assert len(epochs) == 2 and all(e == [1, 2, 3, 4] for e in epochs.values()), epochs
    folders = {}
    for folder in (experiment / "wandb").glob("offline-run-*"):
        run_id = folder.name.rsplit("-", 1)[1]
        assert run_id not in folders, f"two offline runs of trial {run_id} to sync"
        folders[run_id] = folder
    assert {f"trial_{i}" for i in folders} == set(epochs)  # one W&B run per trial, by trial id
    for run_id, folder in folders.items():
        rows = history(folder)
        print(json.dumps({run_id: [row.get("training_iteration") for row in rows]}))
        assert [row["training_iteration"] for row in rows] == [1, 2, 3, 4], rows
        assert [row["_step"] for row in rows] == [1, 2, 3, 4]
    superseded = list((experiment / "wandb" / SUPERSEDED).glob("offline-run-*"))
    assert superseded, "a trial was running at the kill: its first W&B folder was set aside"

    assert SECRET not in done.stdout + done.stderr
    for path in experiment.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
