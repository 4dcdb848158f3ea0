"""Searching in bursts: a finished search grown with ``--resume --num-samples N``, killed in
its burst, then grown again from where the kill left it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from experiment.journal import load_study
from nas.run import grown_line, set_aside_refit
from search_spaces.cifar_lt200k import SEED
from tests.conftest import SMOKE, assert_study_matches_the_trials, run_module, start_nas_run
from tests.nas.test_resume_and_faults import wait_for


def trained(experiment: Path) -> list[Path]:
    """The trial folders that logged an epoch."""
    return [p.parent for p in experiment.glob("trial_*/result.json") if p.stat().st_size]


@pytest.mark.slow
def test_a_grown_search_killed_in_its_burst_grows_again_and_loses_nothing(
    smoke_experiment, tmp_path
):
    experiment = Path(shutil.copytree(smoke_experiment[0], tmp_path / "e2e"))
    where = ["--storage", str(tmp_path), "--name", "e2e", "--resume", "--num-cpus", "2"]
    before = {p.name for p in trained(experiment)}
    assert len(before) == 6

    grow = start_nas_run(*where, "--num-samples", "10", killable=True)
    try:
        wait_for(lambda: len(trained(experiment)) > 6)  # a new trial trained an epoch, 3 to go
    finally:
        os.killpg(grow.pid, signal.SIGKILL)
        grow.wait()
    record = json.loads((experiment / "run.json").read_text())
    assert record["options"]["num_samples"] == 10  # a plain --resume now finishes 10 trials
    assert record["resumes"][0]["grew_from"] == 6

    done = run_module("nas.run", *where, "--num-samples", "11")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Growing the search from 10 to 11 trials" in done.stdout
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["trials"] == 11 and not summary["interrupted"]
    table = pd.read_csv(experiment / "reports" / "ablations.csv")
    assert len(table[table["State"] != "rejected"]) == 11
    assert before < {p.name for p in trained(experiment)}  # the first 6 kept, as they were
    assert_study_matches_the_trials(experiment)
    study = load_study(str(experiment))
    seeded = [t.number for t in study.trials if t.params and SEED.items() <= t.params.items()]
    assert seeded == [0]  # the seed preset ran once, as the first trial: not again
    bursts = json.loads((experiment / "run.json").read_text())["resumes"]
    assert [(b["num_samples"], b.get("grew_from")) for b in bursts] == [(10, 6), (11, 10)]
    assert all(b["git_commit"] is None or len(b["git_commit"]) == 40 for b in bursts)
    assert "ended" in bursts[-1] and "ended" not in bursts[0]  # the first burst was killed

    again = run_module("nas.run", *where)  # asks for nothing new: changes nothing
    assert again.returncode == 0 and "is complete (11 trials)" in again.stdout


def checksums(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def settled(folder: Path) -> dict[str, bytes]:
    """``folder``'s files once two looks 3 s apart find them the same."""
    now = checksums(folder)
    for _ in range(20):
        time.sleep(3)
        now, before = checksums(folder), now
        if now == before:
            return now
    raise AssertionError(f"{folder} kept changing for a minute after its driver was killed")


@pytest.mark.slow
def test_a_killed_search_copied_or_moved_resumes_where_it_is_now(tmp_path):
    """Killed mid-search, the folder copied and the copy resumed (the original untouched), then
    the original moved and resumed (nothing written where it was)."""
    flags = f"{SMOKE} --num-samples 3 --max-epochs 2 --grace-period 1 --num-cpus 2"
    original = tmp_path / "a" / "x"
    search = start_nas_run(
        "--space", "cifar_lt200k", *flags.split(), "--storage", str(original.parent),
        "--name", "x", killable=True,
    )  # fmt: skip
    try:
        wait_for(lambda: len(trained(original)) >= 2)
    finally:
        os.killpg(search.pid, signal.SIGKILL)
        search.wait()
    before = settled(original)  # the killed driver's workers notice and exit within seconds
    copy = tmp_path / "b" / "x"
    shutil.copytree(original, copy)

    done = run_module("nas.run", "--storage", str(copy.parent), "--name", "x", "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert checksums(original) == before  # the copy never wrote to the folder it came from
    assert json.loads((copy / "summary.json").read_text())["trials"] == 3
    assert_study_matches_the_trials(copy)

    moved = tmp_path / "c" / "x"
    moved.parent.mkdir()
    original.rename(moved)
    done = run_module("nas.run", "--storage", str(moved.parent), "--name", "x", "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not original.exists()  # nothing written where it was
    assert json.loads((moved / "summary.json").read_text())["trials"] == 3
    assert_study_matches_the_trials(moved)


def test_a_grown_search_sets_its_earlier_refit_aside(tmp_path):
    (tmp_path / "refit").mkdir()
    (tmp_path / "refit" / "refit.json").write_text("{}")
    kept = set_aside_refit(str(tmp_path), "refit-of-16-trials")
    assert kept == "refit-of-16-trials" and not (tmp_path / "refit").exists()
    assert (tmp_path / kept / "refit.json").read_text() == "{}"
    assert set_aside_refit(str(tmp_path), "refit-of-24-trials") is None  # none to set aside
    assert grown_line(16, 24, kept) == (
        "Growing the search from 16 to 24 trials: the searcher goes on from every earlier "
        "trial, and ASHA compares the new ones with them at every rung. The refit of the first "
        "16 trials is kept in refit-of-16-trials/."
    )
