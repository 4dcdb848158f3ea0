from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas.config import RunConfig
from tests.conftest import REPO


@pytest.mark.slow
def test_the_quality_benchmark_reports_what_the_refit_measured(shared_cifar, tmp_path):
    default = RunConfig.searcher
    flags = f"--trials 3 --max-epochs 3 --train-images 96 --seeds 3 --searchers {default}"
    flags += " --refit-top 1 --refit-seeds 2"
    cmd = [sys.executable, "bench/search_quality.py", *flags.split(), "--keep", str(tmp_path)]
    cmd += ["--data-dir", str(shared_cifar)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("searcher "))
    (row,) = lines[header + 1 : -1]
    searcher, seed, params, gain, low, _, high, top_2, tau, rank, preset, wall = row.split()
    assert (searcher, seed, top_2) == (default, "3", "-")  # one configuration refitted

    summary = json.loads((tmp_path / f"{default}-3" / "summary.json").read_text())
    refit = summary["refit"]
    assert refit["seeds"] == [0, 1] and refit["epochs"] == 3 and refit["unfinished"] == 0
    by_name = {c["configuration"]: c for c in refit["configurations"]}
    top_1, seed_preset = by_name["top_1"], by_name["seed_preset"]
    assert int(params.replace(",", "")) == top_1["params"]
    assert float(gain) == pytest.approx(top_1["gain"], abs=5e-3)
    assert float(low.strip("(")) == pytest.approx(top_1["gain_low"], abs=5e-3)
    assert float(high.strip(")")) == pytest.approx(top_1["gain_high"], abs=5e-3)
    assert float(preset) == pytest.approx(seed_preset["mean_test_acc"], abs=5e-5)
    assert rank.rstrip(",") == str(seed_preset["search_rank"])
    assert tau == "-" if refit["kendall_tau"] is None else float(tau) == refit["kendall_tau"]
    assert lines[-1] == f"best_over_seed_points: {top_1['gain']:.2f}"

    # A second run with the same --keep reuses the finished experiment: nothing trains again.
    written = (tmp_path / f"{default}-3" / "summary.json").read_text()
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == lines[-1]
    assert (tmp_path / f"{default}-3" / "summary.json").read_text() == written
