"""A kill of the driver, a damaged checkpoint and a resume, with W&B offline as on a cluster
without internet: every record says what happened. Each trial's result.json holds epochs 1..n
once with Tune's iteration equal to the epoch (the damaged trial started over, and says so), and
its one W&B run holds every epoch once; the API key is never written anywhere."""

from __future__ import annotations

import json
import os
import signal

import pandas as pd
import pytest

from driver.wandb_logs import SUPERSEDED
from tests.conftest import assert_study_matches_the_trials, run_module, start_nas_run
from tests.nas.test_resume_and_faults import epochs_of, wait_for
from tests.wandb_records import history

SECRET = "sk-never-print-this-0123456789"
EPOCHS = [1, 2, 3, 4]


@pytest.mark.slow
def test_a_kill_and_a_damaged_checkpoint_lose_no_epoch_in_the_logs_or_wandb(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    env |= {"WANDB_API_KEY": SECRET, "WANDB_MODE": "offline", "HOME": str(tmp_path)}
    # The smoke test's whole 512 images: once, with epochs of about a second, the resumed
    # reports lacked the damaged trial (not understood yet; see the closing note of 2026-12-08).
    flags = "--smoke-test --wandb --num-samples 2 --max-epochs 4 --grace-period 4"
    where = ["--storage", str(tmp_path / "exp"), "--name", "w"]
    experiment = tmp_path / "exp" / "w"
    driver = start_nas_run(
        "--space", "cifar_lt200k", *flags.split(), *where, env=env, killable=True
    )
    wait_for(lambda: len(e := epochs_of(experiment)) == 2 and all(e.values()))
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = epochs_of(experiment)
    damaged = sorted(before)[0]  # its checkpoints cut to half: it must start over
    for model in (experiment / damaged).glob("checkpoint_*/model.pt"):
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    print(json.dumps({"at the kill": before, "damaged": damaged}))

    done = run_module("nas.run", *where, "--resume", "--smoke-test", env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    for trial in experiment.glob("trial_*"):
        results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        iterations = [(r["training_iteration"], r["epoch"]) for r in results]
        assert iterations == [(e, e) for e in EPOCHS], (trial.name, iterations, before)
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["finished"] == 2 and not summary["interrupted"]
    notes = dict(
        zip(
            *(pd.read_csv(experiment / "reports" / "ablations.csv")[c] for c in ("Name", "Notes")),
            strict=False,
        )
    )
    assert notes[damaged] == "started over (no checkpoint it could go on from)", notes
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert_study_matches_the_trials(experiment)

    folders = {}
    for folder in (experiment / "wandb").glob("offline-run-*"):
        run_id = folder.name.rsplit("-", 1)[1]
        assert run_id not in folders, f"two offline runs of trial {run_id} to sync"
        folders[run_id] = folder
    assert {f"trial_{i}" for i in folders} == set(before)  # one W&B run per trial, by trial id
    for run_id, folder in folders.items():
        rows = history(folder)
        print(json.dumps({run_id: [row.get("training_iteration") for row in rows]}))
        assert [row["training_iteration"] for row in rows] == EPOCHS, rows
        assert [row["_step"] for row in rows] == EPOCHS
    superseded = {f.name.rsplit("-", 1)[1] for f in (experiment / "wandb" / SUPERSEDED).iterdir()}
    assert superseded == set(folders)  # both were running at the kill: first runs set aside

    assert SECRET not in done.stdout + done.stderr
    for path in experiment.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
