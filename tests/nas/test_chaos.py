"""Chaos: a search stopped four times, resumed after each, loses nothing: a SIGTERM to its whole
process group (as Slurm stops a job), then SIGKILLs mid-checkpoint, at a random moment and while
the reports are written."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from nas.cli import command
from tests.conftest import REPO, SMOKE, assert_study_matches_the_trials, start_nas_run
from tests.nas.test_resume_and_faults import epochs_of, wait_for

SITE = Path(__file__).parent / "chaos"  # sitecustomize: slow checkpoint uploads, on request
SAMPLES, EPOCHS = 4, 3
CHECKPOINT_FILES = 3  # model.pt, trainer.pt, trial.json


def half_written_checkpoint(experiment: Path) -> Path | None:
    for folder in experiment.glob("trial_*/checkpoint_*"):
        if len(list(folder.iterdir())) < CHECKPOINT_FILES:
            return folder
    return None


def writing_reports(experiment: Path, since: float) -> bool:
    """Whether a driver started at ``since`` (wall time) is writing the reports: one of them is
    newer than that, and summary.json, written after them, is not (a search that had ended
    before writes them again when resumed)."""

    def newer(path: Path) -> bool:
        try:
            return path.stat().st_mtime > since
        except FileNotFoundError:  # not written yet, or replaced just now
            return False

    reports = experiment / "reports"
    written = reports.exists() and any(newer(p) for p in list(reports.iterdir()))
    return written and not newer(experiment / "summary.json")


def start(storage: Path, slow_checkpoints: bool, log=subprocess.DEVNULL) -> subprocess.Popen:
    """The search, or its resume where a run record exists (its output to ``log``)."""
    resume = (storage / "chaos" / "run.json").exists()
    flags = f"{SMOKE} --num-samples {SAMPLES} --max-epochs {EPOCHS} --grace-period 2"
    args = ["--storage", str(storage), "--name", "chaos", "--smoke-test"]
    args += ["--resume"] if resume else ["--space", "cifar_lt200k", *flags.split()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SITE), str(REPO)])}
    if slow_checkpoints:
        env["NAS_CHAOS_SLOW_CHECKPOINT"] = "1"
    return start_nas_run(*args, env=env, killable=True, stdout=log, stderr=subprocess.STDOUT)


def ended_by_sigterm(driver: subprocess.Popen, log: Path) -> tuple[int, str]:
    """The exit status and last line of a driver whose process group had a SIGTERM: Ray's own
    processes had it too, so it stops at once; waiting a minute on a GCS that is gone, as it
    did, fails here."""
    try:
        code = driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    return code, log.read_text().splitlines()[-1]


@pytest.mark.slow
def test_four_stops_lose_nothing(tmp_path):
    seed = int(os.environ.get("NAS_CHAOS_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"chaos seed {seed} (NAS_CHAOS_SEED={seed} repeats these kill moments)")
    experiment = tmp_path / "chaos"
    moments = ["SIGTERM to the group", "checkpoint write", "random", "reports"]
    finished: dict[str, str] = {}  # result.json of every trial that had all its epochs
    kills = []
    for moment in moments:
        began, wall = time.monotonic(), time.time()
        log = tmp_path / f"run {len(kills)}.log"
        with log.open("w") as out:
            driver = start(tmp_path, slow_checkpoints=moment == "checkpoint write", log=out)
        if moment == "SIGTERM to the group":  # as Slurm stops a job, once trials train
            wait_for(lambda: any(epochs_of(experiment).values()), timeout=300)
            os.killpg(driver.pid, signal.SIGTERM)
            resume = command(
                "nas.run", "--storage", str(tmp_path), "--name", "chaos", "--resume", cwd=REPO
            )
            assert ended_by_sigterm(driver, log) == (
                143,
                "nas.run: stopped at once (the SIGTERM reached Ray's own processes too); "
                f"continue with `{resume}`.",
            ), log.read_text()[-3000:]
        elif moment == "random":
            # A resume runs what is left in about 20 s on 2 idle cores: a moment within it.
            deadline = began + rng.uniform(1.0, 15.0)
            while driver.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
        elif moment == "checkpoint write":
            wait_for(lambda: half_written_checkpoint(experiment) is not None, timeout=300)
        else:
            wait_for(functools.partial(writing_reports, experiment, wall), timeout=600)
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        epochs = epochs_of(experiment)
        kills.append(
            {
                "moment": moment,
                "after_s": round(time.monotonic() - began, 1),
                "half_written": str(half_written_checkpoint(experiment) or ""),
                "epochs": epochs,
            }
        )
        print(json.dumps(kills[-1]))
        for name, done in epochs.items():
            if len(done) == EPOCHS:
                text = (experiment / name / "result.json").read_text()
                assert finished.setdefault(name, text) == text, f"{name} changed ({moment})"
    assert kills[1]["half_written"], "the second stop came while a checkpoint was half written"

    log = tmp_path / "last resume.log"
    with log.open("w") as out:
        last = start(tmp_path, slow_checkpoints=False, log=out)
        code = last.wait(timeout=600)
    assert code == 0, log.read_text()[-6000:]
    after = epochs_of(experiment)
    print(json.dumps({"moment": "end of the last resume", "epochs": after}))
    assert len(after) == SAMPLES, after  # exactly --num-samples trials
    assert all(epochs == list(range(1, len(epochs) + 1)) for epochs in after.values()), after
    for name, text in finished.items():  # a trial that ran all its epochs never ran again
        assert (experiment / name / "result.json").read_text() == text, name
    table = pd.read_csv(experiment / "reports" / "ablations.csv")
    table = table[table["State"] != "rejected"]
    assert len(table) == SAMPLES
    assert set(table["State"]) <= {"finished", "stopped early by ASHA"}, table["Notes"]
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["trials"] == SAMPLES and not summary["interrupted"]
    assert_study_matches_the_trials(experiment)  # the kills left no trial lost or twice
