"""Aggregate throughput of one device for the CIFAR space: how many images per second its trials
train together, sharing it as the product shares it, against one trial's bare loop.

    python bench/gpu_share.py [--trials 1 2 4 8 12 16] [--images 8192]

On synthetic CIFAR-10 in the real batch format: the seed network's warm epoch through the
product's trial path and through a bare loop over the same images (``nas.check``'s
``trial_and_bare``); then for each count k, k seed-network trials at once through Ray Tune, each
1/k of the GPU (``nas.check``'s ``shared``: the product's trial path, its device share and its
per-epoch work), their aggregate img/s and the GPU memory one reserved. A count whose trials
would not fit the device's memory (k times the peak one reserved at the count before, with a
tenth to spare) is skipped and said so. On a CPU the trials share the cores instead (the suite
runs it so, at a tiny size).

Last line ``aggregate_img_s_per_gpu: X``, the best aggregate over the counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.check import SharingFailed, shared, trial_and_bare  # noqa: E402
from trainables.data.synthetic import write_synthetic_cifar10  # noqa: E402
from trainables.device import choose_device  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, nargs="+", default=[1, 2, 4, 8, 12, 16])
    p.add_argument("--images", type=int, default=8192, help="training images of an epoch")
    return p


def fits(k: int, peak_gb: float, total_gb: float) -> bool:
    """Whether k trials that each reserve ``peak_gb`` fit a device of ``total_gb`` (a tenth
    kept spare); always on a CPU (no GPU memory: ``total_gb`` 0)."""
    return total_gb == 0 or k * peak_gb <= 0.9 * total_gb


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    device = choose_device()
    total = 0.0
    if device.cuda:
        total = torch.cuda.get_device_properties(device.torch_device).total_memory / 1e9
    name = torch.cuda.get_device_name(device.torch_device) if device.cuda else "CPU"
    print(f"{name}, {total:.0f} GB; {args.images:,} images an epoch", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-share-") as tmp:
        data = write_synthetic_cifar10(Path(tmp) / "data", n_train=args.images, n_test=64)
        product, bare, images, batch = trial_and_bare(device, data)
        print(
            f"one trial: trial path {product:,.0f} img/s, bare loop {bare:,.0f} img/s "
            f"({product / bare:.2f} of bare; batch {batch})",
            flush=True,
        )
        best, peak = 0.0, 0.0
        for k in sorted(args.trials):
            if not fits(k, peak, total):
                print(f"{k:>3} trials: skipped ({k} x {peak:.1f} GB > 90% of {total:.0f} GB)")
                continue
            try:
                rate, peak = shared(device, data, Path(tmp) / f"experiments-{k}", (k,))[k]
            except SharingFailed as e:  # out of memory, most likely: the larger counts too
                print(f"{k:>3} trials: failed ({e})", flush=True)
                break
            best = max(best, rate)
            print(f"{k:>3} trials: {rate:,.0f} img/s together, {peak:.2f} GB each", flush=True)
    print(f"aggregate_img_s_per_gpu: {best:.0f}")


if __name__ == "__main__":
    main()
