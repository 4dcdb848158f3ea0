"""``python -m nas.check`` on this machine's device (the CPU in CI)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import ray_cluster, run_module


@pytest.mark.slow
def test_the_device_check_runs_every_check_and_ends_ok():
    """Beside a Ray cluster this machine runs (as ``ray start`` leaves one): a plain
    ``ray.init()`` would join it and refuse ``num_cpus`` with a traceback, and the sharing
    check failed so; it starts a Ray of its own."""
    with ray_cluster():
        done = run_module("nas.check", timeout=900)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines[-1] == "nas.check: ok", done.stdout + done.stderr[-3000:]
    # Columns: the check's name (32 characters), its status (7), the result.
    rows = {line[:32].strip(): line[40:] for line in lines[1:-1] if line[33:40].strip() == "ok"}
    sharing = (
        "4 trials sharing the device"
        if torch.cuda.is_available()
        else "2 trials sharing the device"
    )
    assert set(rows) == {
        "device",
        "CIFAR seed network, one epoch",
        "checkpoint save and restore",
        sharing,
        "face seed network, 224 px",
        "face trial path, 224 px" if torch.cuda.is_available() else "face trial path, 32 px",
    }
    assert "trial path" in rows["CIFAR seed network, one epoch"]
    assert "bare loop" in rows["CIFAR seed network, one epoch"]
    if not torch.cuda.is_available():  # exact on the CPU
        assert "relative drift 0.0e+00" in rows["checkpoint save and restore"]
    assert "img/s" in rows["face seed network, 224 px"] and "together" in rows[sharing]
    face_trial = next(row for name, row in rows.items() if name.startswith("face trial path"))
    assert "img/s (ResNet-50, 96 images" in face_trial or torch.cuda.is_available()
