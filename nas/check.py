"""``python -m nas.check``: the device path end to end, in about three minutes.

Runs on whatever the machine has (the GPU, else the CPU), on synthetic CIFAR-10 written in the
real batch format, and prints one row per check:

- the device: name, compute capability, memory, the autocast dtype chosen and why;
- one epoch of the CIFAR seed network through the product's trial path (data, augmentation,
  loop) against a bare loop over the same images (img/s each);
- a checkpoint saved, restored on the same device and on the CPU, and the restored trial's next
  epoch against the uninterrupted one;
- trials sharing the device through Ray Tune: 1 alone against 4 at ``--gpus-per-trial 0.25``
  on a GPU (against 2 sharing the cores on a CPU), aggregate img/s;
- the face seed network (ResNet-50, 7,000 classes) at 224 px with autocast (img/s), then the
  same network through a face trial's data path (decoded cache, loader workers, augmentation on
  the device; 224 px on a GPU, 32 px on a CPU).

The last line is ``nas.check: ok`` or ``nas.check: FAILED (...)``, with a non-zero exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch

from driver.cluster import start_local_ray
from driver.config import RunConfig
from search_spaces import get_space
from trainables.checkpoints import load_checkpoint
from trainables.data.images import normalize
from trainables.data.synthetic import write_synthetic_cifar10, write_synthetic_hw2p2
from trainables.device import Device, choose_device
from trainables.loop import Training
from trainables.tasks import get_task
from trainables.trial import Trial, TrialJob

# Sizes per device: enough images that an epoch measures throughput, few enough for a few minutes.
SIZES = {
    "cuda": {
        "cifar_images": 8192,
        "face_batch": 64,
        "face_steps": 10,
        "sharing": 4,
        "face_trial_px": 224,
        "faces_per_identity": 512,
    },
    "cpu": {
        "cifar_images": 256,
        "face_batch": 4,
        "face_steps": 2,
        "sharing": 2,
        "face_trial_px": 32,
        "faces_per_identity": 16,
    },
}


@dataclass
class Row:
    check: str
    result: str
    status: str  # "ok" or "FAILED"


def device_row(device: Device) -> Row:
    if device.cuda:
        props = torch.cuda.get_device_properties(device.torch_device)
        what = (
            f"{props.name}, compute capability {props.major}.{props.minor}, "
            f"{props.total_memory / 2**30:.1f} GiB"
        )
    else:
        what = f"CPU, {torch.get_num_threads()} threads (no GPU visible)"
    return Row("device", f"{what}; autocast: {device.amp_reason}", "ok")


def cifar_throughput(device: Device, data_dir: Path) -> Row:
    """The product's trial path against a bare loop: the second (warm) epoch of each."""
    product, bare, images, batch = trial_and_bare(device, data_dir)
    return Row(
        "CIFAR seed network, one epoch",
        f"trial path {product:,.0f} img/s, bare loop {bare:,.0f} img/s ({product / bare:.2f} "
        f"of bare; {images:,} images, batch {batch})",
        "ok",
    )


def trial_and_bare(device: Device, data_dir: Path) -> tuple[float, float, int, int]:
    """Img/s of the seed network's warm epoch through the trial path and through a bare loop
    over the same images (normalised once, already on the device, no augmentation); the
    images and the batch."""
    trial = Trial(_seed_config(), _job(data_dir), device=device)
    reports = [report.metrics for report in trial.epochs()]
    images, labels = trial.data.train.images, trial.data.train.labels
    product = len(labels) / reports[-1]["epoch_seconds"]
    where, batch = device.torch_device, trial.recipe.batch_size
    x = normalize(torch.from_numpy(images).to(where), trial.data.stats)
    y = torch.from_numpy(labels).to(where)
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(y), batch)]
    training = Training(trial.spec, trial.recipe, device)
    training.train_epoch(batches, steps=len(batches))  # warm-up: cuDNN autotuning, caches
    bare = len(y) / training.train_epoch(batches, steps=len(batches)).seconds
    return product, bare, len(y), batch


def checkpoint_round_trip(device: Device, data_dir: Path, folder: Path) -> Row:
    """Save after epoch 1; restore on the device (epoch 2 as uninterrupted) and on the CPU."""
    job = _job(data_dir)
    uninterrupted = Trial(_seed_config(1), job, device=device)
    reports = uninterrupted.epochs()
    next(reports).save(folder)
    expected = next(reports).metrics
    restored = Trial(_seed_config(1), job, folder, device=device)
    got = next(restored.epochs()).metrics
    # A GPU's autotuned kernels are not bitwise reproducible: there a little drift is allowed.
    tolerance = 0.02 if device.cuda else 0.0
    drift = abs(got["train_loss"] - expected["train_loss"]) / abs(expected["train_loss"])

    accuracy = {}
    for name, where in (("device", device), ("cpu", Device(torch.device("cpu")))):
        training = Training(restored.spec, restored.recipe, where)
        load_checkpoint(folder, training)
        accuracy[name] = training.evaluate(restored.data.val_x, restored.data.val_y)[1]
    ok = got["epoch"] == 2 and drift <= tolerance
    ok = ok and abs(accuracy["cpu"] - accuracy["device"]) <= tolerance
    return Row(
        "checkpoint save and restore",
        f"epoch 2 after a restore: train_loss {got['train_loss']:.5f}, uninterrupted "
        f"{expected['train_loss']:.5f} (relative drift {drift:.1e}); the epoch-1 model on "
        f"{device.torch_device.type}: val_acc {accuracy['device']:.4f}, on cpu "
        f"{accuracy['cpu']:.4f}",
        "ok" if ok else "FAILED",
    )


def sharing(device: Device, data_dir: Path, storage: Path, trials: int) -> Row:
    """1 trial alone, then ``trials`` at once on one device, through Ray Tune (warm epoch)."""
    try:
        rates = {
            k: rate for k, (rate, _) in shared(device, data_dir, storage, (1, trials)).items()
        }
    except SharingFailed as e:
        return Row(f"{trials} trials sharing the device", str(e), "FAILED")
    cpus = os.cpu_count() or 1
    share = f"--gpus-per-trial {1 / trials:g}" if device.cuda else f"{cpus / trials:g} CPU each"
    return Row(
        f"{trials} trials sharing the device",
        f"1 alone {rates[1]:,.0f} img/s; {trials} at once ({share}) {rates[trials]:,.0f} img/s "
        f"together ({rates[trials] / rates[1]:.2f}x)",
        "ok",
    )


class SharingFailed(Exception):
    """A trial sharing the device failed, or did not train on the GPU Ray gave it."""


def shared(
    device: Device, data_dir: Path, storage: Path, counts: tuple[int, ...]
) -> dict[int, tuple[float, float]]:
    """For each count k of ``counts``: k seed-network trials at once on one device through Ray
    Tune (each 1/k of a GPU and of the cores, or a share of the cores on a CPU), their
    aggregate img/s over each one's warm epoch and the largest GPU memory one reserved (GB; 0
    on a CPU)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no per-experiment banner
    import ray
    from ray import tune

    from driver.tuner import trainable_for

    cpus = os.cpu_count() or 1
    train_images = get_task("cifar10").training_images(str(data_dir), RunConfig.val_fraction, None)
    start_local_ray(cpus, "ERROR")
    try:
        rates = {}
        for k in counts:
            # On a GPU each trial gets 1/k of it (and 1/k of the cores); on a CPU, a share of
            # the cores. Either way the trials run at once on one device.
            gpus = 1.0 / k if device.cuda else 0.0
            run = _run(data_dir, cpus=cpus / k, gpus=gpus)
            tuner = tune.Tuner(
                trainable_for(TrialJob(run.search_space(), run)),
                param_space={**_seed_config(), "seed": tune.grid_search(list(range(k)))},
                tune_config=tune.TuneConfig(max_concurrent_trials=k),
                run_config=tune.RunConfig(
                    name=f"sharing-{k}", storage_path=str(storage), verbose=0
                ),
            )
            results = tuner.fit()
            errors = [r.error for r in results if r.error]
            if errors:
                raise SharingFailed(f"{errors[0]}")
            on_gpu = sum("gpu_reserved_gb" in r.metrics for r in results)
            if device.cuda and on_gpu != k:
                raise SharingFailed(
                    f"only {on_gpu} of {k} trials trained on the GPU Ray gave them"
                )
            rate = sum(train_images / r.metrics["epoch_seconds"] for r in results)
            peak = max(r.metrics.get("gpu_reserved_gb", 0.0) for r in results)
            rates[k] = (rate, peak)
    finally:
        ray.shutdown()
    return rates


def face_throughput(device: Device, batch: int, steps: int) -> Row:
    """Training steps of the face seed network (ResNet-50, 7,000 classes) at 224 px."""
    space = get_space("hw2p2_resnet")
    spec, recipe = space.decode({**space.presets["seed"], "seed": 0})
    training = Training(spec, dataclasses.replace(recipe, batch_size=batch), device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 224, 224, generator=g).to(device.torch_device)
    y = torch.randint(0, spec.num_classes, (batch,), generator=g).to(device.torch_device)
    training.train_epoch([(x, y)], steps=1)  # warm-up
    seconds = training.train_epoch([(x, y)] * steps, steps=steps).seconds
    return Row(
        "face seed network, 224 px",
        f"{batch * steps / seconds:,.1f} img/s ({spec.num_classes:,} classes, batch {batch}, "
        f"{device.amp_reason}){_memory(device)}",
        "ok",
    )


def face_trial_path(device: Device, folder: Path, size: int, per_identity: int) -> Row:
    """The face seed network through the trial's own data path: the decoded uint8 cache read
    in batches by loader workers, augmented and normalised on the device (second epoch)."""
    with mock.patch.dict(os.environ, {"NAS_CACHE_DIR": str(folder / "cache")}):
        data_dir = write_synthetic_hw2p2(
            folder / "faces", size=size, train_per_identity=per_identity
        )
        cpus = os.cpu_count() or 1
        run = dataclasses.replace(
            _run(data_dir, cpus=min(cpus, 8)),
            space="hw2p2_resnet",
            input_size=size,
        )
        get_task("hw2p2").prepare(str(data_dir), None, (size,), workers=cpus)
        config = {**get_space("hw2p2_resnet").presets["seed"], "input_size": size, "seed": 0}
        trial = Trial(config, TrialJob(run.search_space(num_classes=6), run), device=device)
        reports = [report.metrics for report in trial.epochs()]
    images = len(trial.data.train.labels)
    rate = images / reports[-1]["epoch_seconds"]
    return Row(
        f"face trial path, {size} px",
        f"{rate:,.1f} img/s (ResNet-50, {images:,} images, batch {trial.recipe.batch_size}, "
        f"loader workers: {int(run.cpus_per_trial) - 1}, augmented on "
        f"{device.torch_device.type}){_memory(device)}",
        "ok",
    )


def _memory(device: Device) -> str:
    reserved = device.memory().get("gpu_reserved_gb")
    return "" if reserved is None else f", {reserved:.1f} GB reserved"


def _job(data_dir: Path):
    run = _run(data_dir, torch.get_num_threads())
    return TrialJob(run.search_space(), run)


def _run(data_dir: Path, cpus: float, gpus: float = 0.0) -> RunConfig:
    return RunConfig(
        space="cifar_lt200k",
        name="nas-check",
        storage=str(data_dir.parent / "experiments"),
        data_dir=str(data_dir),
        num_samples=1,
        max_epochs=2,
        grace_period=1,
        reduction_factor=2,
        cpus_per_trial=cpus,
        gpus_per_trial=gpus,
    )


def _seed_config(seed: int = 0) -> dict:
    return {**get_space("cifar_lt200k").presets["seed"], "seed": seed}


def run_checks(device: Device, folder: Path) -> list[Row]:
    sizes = SIZES["cuda" if device.cuda else "cpu"]
    data_dir = write_synthetic_cifar10(
        folder / "data", n_train=sizes["cifar_images"], n_test=64, n_files=5
    )
    checks: list[tuple[str, Callable[[], Row]]] = [
        ("device", lambda: device_row(device)),
        ("CIFAR seed network, one epoch", lambda: cifar_throughput(device, data_dir)),
        (
            "checkpoint save and restore",
            lambda: checkpoint_round_trip(device, data_dir, folder / "checkpoint"),
        ),
        (
            f"{sizes['sharing']} trials sharing the device",
            lambda: sharing(device, data_dir, folder / "experiments", sizes["sharing"]),
        ),
        (
            "face seed network, 224 px",
            lambda: face_throughput(device, sizes["face_batch"], sizes["face_steps"]),
        ),
        (
            "face trial path",
            lambda: face_trial_path(
                device, folder, sizes["face_trial_px"], sizes["faces_per_identity"]
            ),
        ),
    ]
    rows = []
    for name, check in checks:
        start = time.perf_counter()
        try:
            row = check()
        except Exception as error:  # a check that crashes is a failed check, not a traceback
            first_line = (str(error).splitlines() or [""])[0]
            row = Row(name, f"{type(error).__name__}: {first_line}", "FAILED")
        row.result += f" [{time.perf_counter() - start:.0f} s]"
        print(f"{row.check:32s} {row.status:7s} {row.result}", flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0]
    argparse.ArgumentParser(prog="python -m nas.check", description=description).parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    device = choose_device()
    print(f"{'check':32s} {'status':7s} result", flush=True)
    with tempfile.TemporaryDirectory(prefix="nas-check-") as tmp:
        rows = run_checks(device, Path(tmp))
    failed = [row.check for row in rows if row.status == "FAILED"]
    if failed:
        print(f"nas.check: FAILED ({'; '.join(failed)})")
        return 1
    print("nas.check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
