"""The face data path as the real HW2P2 set grows: time and memory at several training sizes.

    .venv/bin/python bench/face_scale.py [--train-images 14000 35000 70000] [--px 32]
        [--input-size 32] [--folder DIR]

For each size, writes a synthetic HW2P2 layout of real JPEGs (7,000 identities; dev a quarter of
the training images, test a tenth, a gallery of 1,000 identities and 1,000 unknown_dev images;
``--px`` pixels a side, small so that it fits this machine) and measures, each in a fresh
process so that its peak memory is its own:

- the layout check (folders, CSV, every image header) in seconds;
- the decode of the training split into the cache at ``--input-size``, images/s with 1 and with
  2 processes, and the peak resident memory of the build (the process and its pool);
- one trial of a small network of ``hw2p2_resnet`` through its first epoch (training on the
  cache, validation on dev, verification), its peak resident memory.

Then the batched face augmentation (``FaceAugment``) against the per-image albumentations
pipeline, images/s on one thread at 64 and 224 px. Last line:
``face_trial_peak_rss_ratio: X.XX`` (the trial's peak memory at the largest size over the
smallest; the data path is flat when it stays near 1).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IDENTITIES = 7_000
GALLERY, UNKNOWN = 1_000, 1_000
SMALL = {  # a small network of the space: the data path, not the model, is measured
    "family": "resnet",
    **{f"blocks_{i}": 1 for i in range(4)},
    "width": 16,
    "expansion": 2,
    "conv_bias": False,
    "dropout": 0.0,
    "lr": 0.05,
    "weight_decay": 1e-4,
    "label_smoothing": 0.1,
    "t0": 10,
    "t_mult": 2,
    "batch_size": 128,
}


def write_layout(root: Path, train_images: int, px: int) -> None:
    """Real JPEGs in the HW2P2 layout: a pool of distinct encoded images, copied as files."""
    from PIL import Image

    rng = np.random.default_rng(0)
    pool = []
    for _ in range(256):
        pixels = rng.normal(0, 30, (px, px, 3)) + rng.integers(40, 216, 3)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG")
        pool.append(buffer.getvalue())
    count = 0

    def save(path: Path) -> None:
        nonlocal count
        path.write_bytes(pool[count % len(pool)])
        count += 1

    cls, ver = root / "classification", root / "verification"
    for split, images in (("train", train_images), ("dev", train_images // 4)):
        for i in range(images):
            folder = cls / split / f"n{i % IDENTITIES:06d}"
            if i < IDENTITIES:
                folder.mkdir(parents=True)
            save(folder / f"{i // IDENTITIES}.jpg")
    for folder, images in (
        (cls / "test", train_images // 10),
        (ver / "unknown_dev", UNKNOWN),
        (ver / "unknown_test", 200),
    ):
        folder.mkdir(parents=True)
        for i in range(images):
            save(folder / f"{i:06d}.jpg")
    for k in range(GALLERY):
        (ver / "known" / f"k{k:06d}").mkdir(parents=True)
        save(ver / "known" / f"k{k:06d}" / "0.jpg")
    with open(ver / "dev_identities.csv", "w", newline="") as f:
        rows = [(f"{i:06d}.jpg", f"k{i % GALLERY:06d}") for i in range(UNKNOWN)]
        csv.writer(f).writerows([("id", "label"), *rows])


def peak_rss_mb() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": own, "children_peak_rss_mb": children}


def child_decode(root: str, size: int, workers: int) -> dict:
    from trainables.data.hw2p2 import load_images, validate_layout

    paths = [p for p, _ in validate_layout(root, check_images=False).train]
    start = time.perf_counter()
    load_images(paths, size, workers=workers)
    seconds = time.perf_counter() - start
    return {"images": len(paths), "seconds": seconds, **peak_rss_mb()}


def child_trial(root: str, size: int) -> dict:
    import torch

    from driver.config import RunConfig
    from trainables.tasks import get_task
    from trainables.trial import Trial, TrialJob

    get_task("hw2p2").prepare(root, None, (size,), workers=2)  # as the driver does
    torch.set_num_threads(2)
    run = RunConfig(
        space="hw2p2_resnet",
        data_dir=root,
        max_epochs=1,
        grace_period=1,
        cpus_per_trial=2,
        input_size=size,
    )
    start = time.perf_counter()
    trial = Trial(
        {**SMALL, "input_size": size, "seed": 0}, TrialJob(run.search_space(IDENTITIES), run)
    )
    metrics = next(trial.epochs()).metrics
    return {
        "seconds": time.perf_counter() - start,
        "epoch_seconds": metrics["epoch_seconds"],
        "verify_acc": metrics["verify_acc"],
        **peak_rss_mb(),
    }


def child(mode: str, *args: str) -> dict:
    """Run ``mode`` in a fresh Python process; its JSON result."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def augment_rates(size: int, device: str = "cpu", images: int = 256) -> tuple[float, float]:
    """Images/s of the per-image pipeline (one thread) and of FaceAugment (one thread, on
    ``device``), batches of 64."""
    import torch

    from trainables.data.augment import ChannelStats, face_train_transform
    from trainables.data.face_augment import FaceAugment

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (images, size, size, 3), dtype=np.uint8)
    stats = ChannelStats((120.0, 110.0, 100.0), (60.0, 60.0, 60.0))
    pipeline = face_train_transform(stats)
    start = time.perf_counter()
    for image in pixels:
        pipeline(image=image)
    per_image = images / (time.perf_counter() - start)
    augment, generator = FaceAugment(stats), torch.Generator(device).manual_seed(0)
    batch = torch.from_numpy(pixels).to(device).permute(0, 3, 1, 2)
    augment(batch[:64], generator)  # warm-up
    repeats = 20 if device == "cuda" else 1  # a GPU needs more work to time
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(0, images, 64):
            augment(batch[i : i + 64], generator)
    if device == "cuda":
        torch.cuda.synchronize()
    return per_image, repeats * images / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-images", type=int, nargs="+", default=[14_000, 35_000, 70_000])
    p.add_argument("--px", type=int, default=32, help="pixels a side of the JPEGs written")
    p.add_argument("--input-size", type=int, default=32, help="the size trials decode to")
    p.add_argument("--folder", help="where to write the layouts (default: a temporary folder)")
    p.add_argument("--device", default="cpu", help="where FaceAugment runs (cuda on a GPU)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        mode, root, size, *rest = args.child
        result = (
            child_decode(root, int(size), int(rest[0]))
            if mode == "decode"
            else child_trial(root, int(size))
        )
        print(json.dumps(result))
        return

    base = Path(args.folder or tempfile.mkdtemp(prefix="face-scale-"))
    print(
        f"{IDENTITIES:,} identities, {args.px} px JPEGs, decoded at {args.input_size} px; "
        f"{os.cpu_count()} CPUs"
    )
    header = (
        "train images | files | layout check (s) | decode 1 proc (img/s) | decode 2 procs "
        "(img/s) | build peak RSS (MB) | trial first epoch (s) | trial peak RSS (MB)"
    )
    print(header)
    trial_rss = []
    for count in args.train_images:
        root = base / f"faces-{count}"
        shutil.rmtree(root, ignore_errors=True)
        write_layout(root, count, args.px)
        files = sum(1 for _ in root.rglob("*.jpg"))
        from trainables.data.hw2p2 import validate_layout

        start = time.perf_counter()
        validate_layout(root)
        check = time.perf_counter() - start
        rates, build_rss = [], 0.0
        for workers in (1, 2):
            os.environ["NAS_CACHE_DIR"] = str(base / f"cache-{count}-{workers}")
            decode = child("decode", str(root), str(args.input_size), str(workers))
            rates.append(decode["images"] / decode["seconds"])
            build_rss = max(build_rss, decode["peak_rss_mb"], decode["children_peak_rss_mb"])
        trial = child("trial", str(root), str(args.input_size))  # dev etc. decoded first
        trial_rss.append(trial["peak_rss_mb"])
        print(
            f"{count:,} | {files:,} | {check:.1f} | {rates[0]:,.0f} | {rates[1]:,.0f} | "
            f"{build_rss:,.0f} | {trial['seconds']:.0f} (epoch {trial['epoch_seconds']:.0f}) | "
            f"{trial['peak_rss_mb']:,.0f}",
            flush=True,
        )
        shutil.rmtree(root)
        for cache in base.glob(f"cache-{count}-*"):
            shutil.rmtree(cache)
    for size in (64, 224):
        per_image, batched = augment_rates(size, args.device)
        print(
            f"face augmentation at {size} px: per image (1 thread) {per_image:,.0f} img/s, "
            f"batched on {args.device} {batched:,.0f} img/s ({batched / per_image:.1f}x)"
        )
    print(f"face_trial_peak_rss_ratio: {max(trial_rss[-1], 1) / max(trial_rss[0], 1):.2f}")


if __name__ == "__main__":
    main()
