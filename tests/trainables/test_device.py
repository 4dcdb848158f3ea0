"""The device path, checked without a GPU: ``meta`` stands in for a second device, and the
autocast, scaler and device-resident branches run on the CPU through the same code."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest
import torch

from driver.config import RunConfig
from search_spaces.cifar_lt200k import SEED, SPACE
from tests.trainables.test_loop import SETTINGS, SMALL
from trainables.checkpoints import load_checkpoint, save_checkpoint
from trainables.data.batched import DeviceBatches
from trainables.device import (
    Device,
    amp_dtype_for,
    choose_device,
    memory_fraction,
    trials_per_gpu,
)
from trainables.loop import Training, seed_everything
from trainables.trial import Trial, TrialJob, failure_kind

CPU = Device(torch.device("cpu"))
META = Device(torch.device("meta"))  # a second device with no data: shows where tensors land


def one_step(training: Training, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
    return training.train_epoch([(x, y)], steps=1)


def test_a_checkpoint_restores_onto_another_device_with_host_generator_states(tmp_path):
    seed_everything(3)
    saved = Training(SMALL, SETTINGS, CPU)
    one_step(saved)
    save_checkpoint(tmp_path, saved, {"seed": 3}, SMALL, {})
    expected = np.random.random()  # the NumPy draw that follows the saved state

    seed_everything(99)
    elsewhere = Training(SMALL, SETTINGS, META)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*meta parameter.*")
        meta = load_checkpoint(tmp_path, elsewhere)
    assert meta["epoch"] == elsewhere.epoch == 1
    assert np.random.random() == expected  # the NumPy state came back, from host memory
    buffers = [s["momentum_buffer"] for s in elsewhere.optimizer.state.values()]
    assert buffers and {b.device.type for b in buffers} == {"meta"}  # moved to the model


def test_a_disabled_scaler_checkpoint_loads_into_an_fp16_training(tmp_path):
    fp32 = Training(SMALL, SETTINGS, CPU)
    one_step(fp32)
    save_checkpoint(tmp_path, fp32, {"seed": 0}, SMALL, {})  # its scaler saved {}
    fp16 = Training(SMALL, SETTINGS, Device(torch.device("cpu"), amp_dtype=torch.float16))
    assert fp16.scaler.is_enabled()
    load_checkpoint(tmp_path, fp16)
    assert fp16.epoch == 1 and fp16.scaler.get_scale() == 65536.0  # the scaler's own start


def test_an_fp16_scaler_state_travels_in_the_checkpoint(tmp_path):
    fp16 = Device(torch.device("cpu"), amp_dtype=torch.float16)
    saved = Training(SMALL, SETTINGS, fp16)
    one_step(saved)
    saved.scaler.update(1024.0)  # as after a run of overflows
    save_checkpoint(tmp_path, saved, {"seed": 0}, SMALL, {})
    restored = Training(SMALL, SETTINGS, fp16)
    load_checkpoint(tmp_path, restored)
    assert restored.scaler.get_scale() == saved.scaler.get_scale() == 1024.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_the_autocast_path_trains_on_cpu(dtype):
    training = Training(SMALL, SETTINGS, Device(torch.device("cpu"), amp_dtype=dtype))
    seen = []
    training.model.stem[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    stats = one_step(training)
    assert seen == [dtype] and np.isfinite(stats.loss)
    assert training.model.stem[0].weight.dtype == torch.float32  # master weights stay fp32


@pytest.mark.parametrize(
    "capability, dtype, scaled",
    [((7, 0), torch.float16, True), ((7, 5), torch.float16, True), ((8, 0), torch.bfloat16, False),
     ((9, 0), torch.bfloat16, False), (None, None, False)],
)  # fmt: skip
def test_bf16_only_where_it_is_native(capability, dtype, scaled):
    chosen, reason = amp_dtype_for(capability)
    assert chosen == dtype
    assert Device(torch.device("cpu"), amp_dtype=chosen).grad_scaler().is_enabled() == scaled
    if capability == (7, 5):  # a T4: is_bf16_supported() says yes, emulated
        assert reason == "fp16 with a gradient scaler: compute capability 7.5 < 8.0"


def test_no_gpu_for_a_trial_ray_gave_none(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine
    assert choose_device(gpu_ids=[]) == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # ids but no CUDA runtime
    assert choose_device(gpu_ids=[0]) == CPU


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
        "CUDA out of memory. Tried to allocate 20.00 MiB",
    ],
)
def test_library_allocation_failures_are_out_of_memory(message):
    assert failure_kind(RuntimeError(message)) == "oom"
    assert failure_kind(RuntimeError("CUDA error: an illegal memory access")) == "error"


def test_a_shared_gpu_caps_memory_below_the_share():
    assert memory_fraction(1.0, 80 * 10**9) == 1.0
    assert memory_fraction(0.25, 80 * 10**9) == pytest.approx(0.25 - 2**29 / 80e9)
    assert memory_fraction(0.05, 4 * 10**9) == 0.025  # never below half the share
    assert [trials_per_gpu(f) for f in (1, 0.5, 0.25, 0.2, 0.1, 1 / 3, 0.3)] == [
        1, 2, 4, 5, 10, 3, 3,
    ]  # fmt: skip


class Recorded(Device):
    """The CPU, recording when the loop waited for the device."""

    def synchronize(self) -> None:
        object.__setattr__(self, "synced_at", time.time())


def test_the_first_step_is_timed_after_a_device_sync():
    device = Recorded(torch.device("cpu"))
    training = Training(SMALL, SETTINGS, device)
    one_step(training)
    assert training.first_batch_at <= device.synced_at <= training.first_step_at


def test_the_device_resident_path_runs_on_cpu(synthetic_cifar):
    run = RunConfig(
        space=SPACE.name, name="x", storage="/tmp", data_dir=str(synthetic_cifar),
        num_samples=1, max_epochs=1, grace_period=1, reduction_factor=2,
    )  # fmt: skip
    resident = Device(torch.device("cpu"), amp_dtype=torch.bfloat16, resident_data=True)
    trial = Trial({**SEED, "seed": 0}, TrialJob(run.search_space(), run), device=resident)
    assert isinstance(trial.loader, DeviceBatches)
    assert trial.val_x.pixels.device == trial.loader.images.device == resident.torch_device
    (report,) = trial.epochs()
    assert report.metrics["epoch"] == 1 and 0 <= report.metrics["val_acc"] <= 1
    assert np.isfinite(report.metrics["train_loss"])


def test_a_checkpoint_whose_bytes_changed_on_disk_is_not_whole(tmp_path):
    """Its size intact, a byte of model.pt changed (bit rot, a file replaced): the manifest's
    SHA-256 tells it, so a restore passes it over and the trial starts over (or goes on from
    an older checkpoint) instead of failing to load it. A manifest of sizes alone (checkpoints
    before the hashes) is still read by size."""
    import pyarrow.fs as pafs

    from trainables.checkpoints import MANIFEST, whole_epoch

    training = Training(SMALL, SETTINGS, CPU)
    one_step(training)
    save_checkpoint(tmp_path, training, {"seed": 0}, SMALL, {})
    fs, folder = pafs.LocalFileSystem(), str(tmp_path)
    assert whole_epoch(fs, folder) == 1
    load_checkpoint(tmp_path, Training(SMALL, SETTINGS, CPU))  # the bytes it hashed load
    model = tmp_path / "model.pt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    assert whole_epoch(fs, folder) is None
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    del manifest["sha256"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert whole_epoch(fs, folder) == 1
