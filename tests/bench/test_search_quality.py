from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas.config import RunConfig
from tests.conftest import REPO


@pytest.mark.slow
def test_the_quality_benchmark_reports_what_its_searches_found(shared_cifar, tmp_path):
    flags = "--trials 2 --max-epochs 2 --train-images 96 --seeds 3 --searchers random"
    flags += " --retrain-seeds 1"
    cmd = [sys.executable, "bench/search_quality.py", *flags.split(), "--keep", str(tmp_path)]
    cmd += ["--data-dir", str(shared_cifar)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    default = RunConfig.searcher
    header = next(i for i, line in enumerate(lines) if line.startswith("searcher "))
    rows = [line.rsplit(maxsplit=10) for line in lines[header + 1 : -1]]
    names = {default: f"{default}-3", "random": "random-3", f"{default} (plain rungs)": None}
    assert [row[0] for row in rows] == list(names)
    gains = {}
    for row in rows:
        searcher, seed, best_val, best_test, seed_test, gain, epochs = row[:7]
        folder = tmp_path / (names[searcher] or f"{default}-plain-3")
        summary = json.loads((folder / "summary.json").read_text())
        assert int(seed) == 3
        assert float(best_val) == pytest.approx(summary["best"]["val_acc"], abs=5e-5)
        assert float(best_test) == pytest.approx(summary["best"]["test_acc"], abs=5e-5)
        assert float(seed_test) == pytest.approx(summary["seed"]["test_acc"], abs=5e-5)
        assert summary["seed"]["epochs"] == 2  # the seed preset ran every epoch
        trained = [p.read_text().count("\n") for p in folder.glob("trial_*/result.json")]
        assert int(epochs) == sum(trained) and len(trained) == 2
        found = (summary["best"]["test_acc"] - summary["seed"]["test_acc"]) * 100
        assert float(gain) == pytest.approx(found, abs=5e-3)
        retrained_best, retrained_seed, paired = map(float, row[8:])
        assert 0 < retrained_best < 1 and 0 < retrained_seed < 1
        assert paired == pytest.approx((retrained_best - retrained_seed) * 100, abs=0.02)
        gains[searcher] = paired
    assert len({row[9] for row in rows}) == 1  # one retrained seed preset for every search
    assert lines[-1] == f"best_over_seed_points: {gains[default]:.2f}"
