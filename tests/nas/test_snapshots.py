"""Tune's snapshot files as a kill during their copy leaves them: resume takes the newest whole
snapshot and makes the search generator agree with its trials."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import ray.cloudpickle as cloudpickle

from driver.resume import set_aside_torn_snapshots
from experiment.layout import ORPHANED, TORN

LATER, EARLIER = "2099-01-01_00-00-00", "2000-01-01_00-00-00"


@pytest.fixture
def experiment(smoke_experiment, tmp_path) -> Path:
    """A copy of a finished search (one driver session: 6 trials)."""
    return shutil.copytree(smoke_experiment[0], tmp_path / "e2e")


def session_files(experiment: Path, session: str | None = None) -> dict[str, Path]:
    """The snapshot files of ``session`` (default: the newest) by kind."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    session = session or states[-1].stem.removeprefix("experiment_state-")
    return {
        "experiment_state": experiment / f"experiment_state-{session}.json",
        "search_gen_state": experiment / f"search_gen_state-{session}.json",
        "searcher-state": experiment / f"searcher-state-{session}.pkl",
    }


def as_session(files: dict[str, Path], session: str) -> dict[str, Path]:
    """Copies of a session's files under another session's name."""
    copies = {}
    for kind, path in files.items():
        copies[kind] = path.with_name(f"{kind}-{session}{path.suffix}")
        shutil.copy(path, copies[kind])
    return copies


def generator(files: dict[str, Path]) -> dict:
    return cloudpickle.loads(files["search_gen_state"].read_bytes())


def test_a_later_session_cut_short_is_set_aside(experiment):
    newest = session_files(experiment)
    later = as_session(newest, LATER)
    later["experiment_state"].unlink()  # the copy was killed before the trial list arrived
    state = generator(later)
    state["counter"] += 3  # ... after the generator had made three more trials
    later["search_gen_state"].write_bytes(cloudpickle.dumps(state))

    moved = set_aside_torn_snapshots(str(experiment), 6)

    assert moved == [later["search_gen_state"].name, later["searcher-state"].name]
    assert sorted(p.name for p in (experiment / ORPHANED / TORN).iterdir()) == moved
    assert all(path.exists() for path in newest.values())  # the whole one stays
    assert generator(newest)["counter"] == 6


def test_a_file_cut_mid_write_makes_its_session_torn(experiment):
    newest = session_files(experiment)
    later = as_session(newest, LATER)
    data = later["searcher-state"].read_bytes()
    later["searcher-state"].write_bytes(data[: len(data) // 2])

    assert set_aside_torn_snapshots(str(experiment), 6) == sorted(p.name for p in later.values())
    later = as_session(newest, LATER)
    text = later["experiment_state"].read_text()
    later["experiment_state"].write_text(text[: len(text) // 2])
    assert len(set_aside_torn_snapshots(str(experiment), 6)) == 3


def test_a_generator_ahead_of_the_trial_list_is_set_back(experiment):
    """Files of one session from two snapshots: the generator's newer, the trial list older."""
    files = session_files(experiment)
    state = generator(files)
    assert state["counter"] == 6 and state["name:ConcurrencyLimiter"]["live_trials"] == set()
    state["counter"] = 8
    state["name:ConcurrencyLimiter"]["live_trials"] = {"abc12345", "def67890"}
    state["name:ConcurrencyLimiter"]["num_unfinished_live_trials"] = 2
    files["search_gen_state"].write_bytes(cloudpickle.dumps(state))

    assert set_aside_torn_snapshots(str(experiment), 6) == []

    mended = generator(files)
    assert mended["counter"] == 6  # the trials Tune will restore: the search is complete
    assert mended["name:ConcurrencyLimiter"]["live_trials"] == set()  # no slot held by a ghost
    assert mended["name:ConcurrencyLimiter"]["num_unfinished_live_trials"] == 0


def test_a_grown_search_may_make_more_trials_than_its_snapshot(experiment):
    """--num-samples 10 on a resume of the 6-trial search: Tune takes the trials it may make
    from the generator's snapshot, so that is where the search grows."""
    files = session_files(experiment)
    assert generator(files)["total_samples"] == 6
    assert set_aside_torn_snapshots(str(experiment), 10) == []
    grown = generator(files)
    assert (grown["counter"], grown["total_samples"], grown["finished"]) == (6, 10, False)


def test_a_searcher_from_another_snapshot_falls_back_to_the_session_before(experiment):
    newest = session_files(experiment)
    earlier = as_session(newest, EARLIER)
    state = pickle.loads(newest["searcher-state"].read_bytes())
    assert (
        state["suggested"]
        == 6
        == len(json.loads(newest["experiment_state"].read_text())["trial_data"])
    )
    state["suggested"] = 7  # the searcher made a trial the list does not hold
    newest["searcher-state"].write_bytes(pickle.dumps(state))

    moved = set_aside_torn_snapshots(str(experiment), 6)

    assert moved == sorted(p.name for p in newest.values())
    assert all(path.exists() for path in earlier.values())


def test_a_kill_mid_upload_that_cut_every_session_s_files_resumes_from_the_copy(experiment):
    """After a resume Tune uploads every snapshot file at the top of the folder again with each
    new snapshot, the older sessions' too; a kill in that upload left them all 0 bytes (seen in
    a grown search killed right after a checkpoint). The resume's own copy puts them back."""
    files = session_files(experiment)
    assert set_aside_torn_snapshots(str(experiment), 6) == []  # the resume keeps a copy
    before = {kind: path.read_bytes() for kind, path in files.items()}  # as it resumed
    later = as_session(files, LATER)  # the resumed driver's session
    record = (experiment / "run.json").read_bytes()
    for path in [*files.values(), *later.values(), experiment / "run.json"]:
        path.write_bytes(b"")  # as the kill left them

    moved = set_aside_torn_snapshots(str(experiment), 6)

    assert moved == sorted(p.name for p in later.values())  # no copy of the later session
    assert {kind: path.read_bytes() for kind, path in files.items()} == before
    assert not (experiment / ORPHANED / files["experiment_state"].name).exists()
    assert (experiment / "run.json").read_bytes() == record
