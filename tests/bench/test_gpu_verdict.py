"""``bench/gpu_verdict.py``: the device call's verdict, run on the CPU at a tiny size through
the same code (the sizes are flags), so that a lent GPU's minutes measure and never debug."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from nas.run import config_of, parser
from tests.conftest import REPO

SPEC = importlib.util.spec_from_file_location("gpu_verdict", REPO / "bench/gpu_verdict.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_its_searches_are_the_readmes_defaults_with_their_refits(tmp_path):
    args = bench.parser().parse_args([])
    one, front = (
        config_of(parser().parse_args(bench.flags(args, tmp_path, "v", pareto)))
        for pareto in (False, True)
    )
    assert (one.num_samples, one.max_epochs, one.train_images) == (48, 30, None)
    assert (one.refit_top, one.refit_seeds, one.refit_epochs) == (3, 10, 30)
    assert (one.searcher, one.grace_period, one.gpus_per_trial) == ("tpe", 3, None)  # defaults
    assert (front.objectives, front.refit_front, front.refit_top) == ("val_acc,params", 3, None)


@pytest.mark.slow
def test_a_tiny_verdict_runs_on_the_cpu(shared_cifar, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["gpu_verdict.py"])
    # One epoch, the first rung at it: the suite's budget (the Pareto search's flags are the
    # test above; its search and refit, tests/nas/test_pareto_search.py).
    sizes = "--trials 3 --max-epochs 1 --train-images 128 --refit-top 1 --refit-seeds 2"
    extra = "--num-cpus 2 --grace-period 1"
    bench.main([*sizes.split(), "--no-pareto", "--keep", str(tmp_path), "--extra", extra])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("3 trials x up to 1 epochs on 128 training images of ")
    single = next(line for line in out if line.startswith("tpe: 3 trials"))
    pick = single.split("pick ")[1].split(",")[0]
    refit = [line.split()[0] for line in out if line.startswith("  ")]
    assert pick in refit and "seed_preset" in refit and len(refit) == 2
    assert out[-1].startswith("gpu_gain_points: ")
    float(out[-1].split(": ")[1])  # a number: the pick's paired gain over 2 seeds
