"""Images per second of the batched CIFAR augmentation against albumentations, same work.

    .venv/bin/python bench/augment.py [--images 4096] [--batch 512] [--threads 1]

Both do flip, shift-scale-rotate, one 16x16 mean-filled hole and normalisation on the same
uint8 images; albumentations one image at a time (as the CPU DataLoader path does), the
batched path on whole batches. On CPU here; pass --device cuda on a GPU machine.
Last line: ``batched_over_albumentations: X.X``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from trainables.data.augment import ChannelStats, cifar_train_transform
from trainables.data.batched import BatchAugment
from trainables.data.cifar10 import load_cifar10

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def images(count: int) -> np.ndarray:
    if (SHARED / "cifar-10-batches-py").exists():
        real = load_cifar10(SHARED, download=False).train.images
        return np.resize(real, (count, 32, 32, 3))
    return np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = images(args.images)
    stats = ChannelStats.of(data)

    transform = cifar_train_transform(stats)
    transform.set_random_seed(0)
    start = time.perf_counter()
    for image in data:
        transform(image=image)
    albumentations_rate = len(data) / (time.perf_counter() - start)

    device = torch.device(args.device)
    augment = BatchAugment(stats)
    x = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous().to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    augment(x[: args.batch], generator)  # warm-up
    rates = []
    for _ in range(3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, len(x), args.batch):
            augment(x[i : i + args.batch], generator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(x) / (time.perf_counter() - start))
    batched_rate = float(np.median(rates))

    print(f"images: {len(data)} CIFAR-10 32x32, {args.threads} thread(s), device {device}")
    print(f"albumentations (per image): {albumentations_rate:,.0f} img/s")
    print(f"batched (batch {args.batch}):      {batched_rate:,.0f} img/s")
    print(f"batched_over_albumentations: {batched_rate / albumentations_rate:.1f}")


if __name__ == "__main__":
    main()
