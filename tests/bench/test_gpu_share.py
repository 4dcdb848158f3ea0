"""``bench/gpu_share.py``: the throughput per device, run on the CPU at a tiny size through the
same code (the product's trial path, trials sharing the device through Ray Tune)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO

SPEC = importlib.util.spec_from_file_location("gpu_share", REPO / "bench/gpu_share.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_a_count_that_would_not_fit_the_gpu_memory_is_skipped():
    assert bench.fits(8, peak_gb=4.0, total_gb=80.0)  # 32 GB of 80
    assert not bench.fits(16, peak_gb=4.8, total_gb=80.0)  # 76.8 GB: past 90%
    assert bench.fits(64, peak_gb=0.0, total_gb=0.0)  # a CPU: no GPU memory to run out of


@pytest.mark.slow
def test_the_cpu_runs_it_at_a_tiny_size(capsys):
    bench.main(["--trials", "1", "2", "--images", "128"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("CPU, 0 GB; 128 images an epoch")
    assert out[1].startswith("one trial: trial path ") and " of bare; batch " in out[1]
    rates = [line for line in out if line.lstrip().startswith(("1 trials", "2 trials"))]
    assert len(rates) == 2 and all(" img/s together, 0.00 GB each" in line for line in rates)
    best = max(float(line.split(":")[1].split("img/s")[0].replace(",", "")) for line in rates)
    assert out[-1] == f"aggregate_img_s_per_gpu: {best:.0f}"
