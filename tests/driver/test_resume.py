"""An experiment started by an earlier version of the code resumes with today's."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from driver.resume import MOVED, earlier_module_names
from experiment.journal import load_study
from searchers.base import evaluated
from searchers.evolution import RegularizedEvolution
from tests.conftest import REPO, assert_study_matches_the_trials, run_module

# Made by the code of 5282e48, before the search engine left nas/ (nas.searcher, nas.samplers,
# nas.rungs, nas.progress): an evolution search of 3 trials of 2 epochs (--smoke-test
# --no-seed-trial --max-params 60000, small networks), stopped by SIGTERM with two trials
# running. Its snapshots hold absolute paths in the folder it was made in, so it is unpacked
# there.
BEFORE_HOUSE_THREE = REPO / "tests" / "data" / "before-house-three.tar.gz"
MADE_IN = Path("/tmp/cnn-nas-before-house-three")


def test_every_moved_class_is_found_where_it_lives_now():
    earlier_module_names()
    for old, classes in MOVED.items():
        for name, new in classes.items():
            assert getattr(sys.modules[old], name).__module__ == new, (old, name)
    with pytest.raises(AttributeError, match="had no class 'Nothing'"):
        sys.modules["nas.samplers"].Nothing  # noqa: B018


@pytest.mark.slow
def test_an_experiment_started_before_the_search_engine_moved_resumes():
    shutil.rmtree(MADE_IN, ignore_errors=True)
    with tarfile.open(BEFORE_HOUSE_THREE) as archive:
        archive.extractall(MADE_IN, filter="data")
    experiment = MADE_IN / "evolution"
    old = next(experiment.glob("searcher-state-*.pkl")).read_bytes()
    assert b"nas.samplers" in old and b"nas.searcher" in (experiment / "tuner.pkl").read_bytes()
    try:
        done = run_module(
            "nas.run", "--storage", str(MADE_IN), "--name", "evolution", "--resume", "--smoke-test"
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        summary = json.loads((experiment / "summary.json").read_text())
        assert (summary["trials"], summary["finished"], summary["unfinished"]) == (3, 3, 0)
        assert_study_matches_the_trials(experiment)
        study = load_study(str(experiment))
        assert len(evaluated(study)) == 3
        # The evolution went on: its child of the first trial trained as planned before the stop.
        children = [t for t in study.trials if "parent" in t.user_attrs]
        assert children and all(t.user_attrs["parent"] < t.number for t in children)
        newest = max(experiment.glob("searcher-state-*.pkl"), key=lambda p: p.name).read_bytes()
        assert b"searchers.evolution" in newest and b"nas.samplers" not in newest
        assert isinstance(pickle.loads(newest)["_sampler"], RegularizedEvolution)
    finally:
        shutil.rmtree(MADE_IN, ignore_errors=True)
