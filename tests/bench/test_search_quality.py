"""``bench/search_quality.py``: its table reads what the product's refit measured, and the
searches it would run are valid ``nas.run`` command lines."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import pytest

from driver.config import RunConfig
from nas.run import config_of, parser
from tests.conftest import REPO

SPEC = importlib.util.spec_from_file_location("search_quality", REPO / "bench/search_quality.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_each_search_is_a_valid_nas_run_with_its_refit(tmp_path):
    args = bench.parser().parse_args(
        ["--trials", "5", "--max-epochs", "4", "--train-images", "300"]
    )
    flags = bench.flags(args, seed=7, searcher="evolution", storage=tmp_path, name="evolution-7")
    config = config_of(parser().parse_args(flags))
    assert (config.num_samples, config.max_epochs, config.train_images) == (5, 4, 300)
    assert (config.seed, config.searcher, config.name) == (7, "evolution", "evolution-7")
    assert (config.refit_top, config.refit_seeds, config.refit_epochs) == (2, 5, 4)
    assert config.storage == str(tmp_path) and config.data_dir == str(args.data_dir.resolve())


@pytest.mark.slow
def test_the_table_reports_what_the_refit_measured(refit_experiment, shared_cifar, tmp_path):
    """A finished search with its refit (4 trials, the top 2 and the seed preset refit with 2
    seeds), kept where the benchmark looks: it reads it, trains nothing."""
    default = RunConfig.searcher
    shutil.copytree(refit_experiment[0], tmp_path / f"{default}-3")
    flags = f"--seeds 3 --searchers {default} --refit-top 2 --data-dir {shared_cifar}"
    cmd = [sys.executable, "bench/search_quality.py", *flags.split(), "--keep", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("searcher "))
    (row,) = lines[header + 1 : -1]
    searcher, seed, params, gain, low, _, high, top_2, *_, tau, rank, preset, wall = row.split()
    assert (searcher, seed) == (default, "3")

    summary = json.loads((tmp_path / f"{default}-3" / "summary.json").read_text())
    refit = summary["refit"]
    by_name = {c["configuration"]: c for c in refit["configurations"]}
    top_1, seed_preset = by_name["top_1"], by_name["seed_preset"]
    assert int(params.replace(",", "")) == top_1["params"]
    assert float(gain) == pytest.approx(top_1["gain"], abs=5e-3)
    assert float(low.strip("(")) == pytest.approx(top_1["gain_low"], abs=5e-3)
    assert float(high.strip(")")) == pytest.approx(top_1["gain_high"], abs=5e-3)
    assert float(top_2) == pytest.approx(by_name["top_2"]["gain"], abs=5e-3)
    assert float(preset) == pytest.approx(seed_preset["mean_test_acc"], abs=5e-5)
    assert rank.rstrip(",") == str(seed_preset["search_rank"])
    if refit["kendall_tau"] is None:
        assert tau == "-"
    else:
        assert float(tau) == pytest.approx(refit["kendall_tau"], abs=5e-3)
    assert float(wall) == pytest.approx(summary["wall_seconds"] + refit["wall_seconds"], abs=1)
    assert lines[-1] == f"best_over_seed_points: {top_1['gain']:.2f}"
