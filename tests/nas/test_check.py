"""``python -m nas.check`` on this machine's device (the CPU in CI)."""

from __future__ import annotations

import pytest

from tests.conftest import run_module


@pytest.mark.slow
def test_the_device_check_runs_every_check_and_ends_ok():
    done = run_module("nas.check", timeout=900)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines[-1] == "nas.check: ok", done.stdout + done.stderr[-3000:]
    rows = {line.split()[0]: line for line in lines[1:-1] if line.split()[1:2] == ["ok"]}
    assert set(rows) == {"device", "CIFAR", "checkpoint", "2", "face"}
    assert "trial path" in rows["CIFAR"] and "bare loop" in rows["CIFAR"]
    assert "relative drift 0.0e+00" in rows["checkpoint"]  # exact on the CPU
    assert "img/s" in rows["face"]
