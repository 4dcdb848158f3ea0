"""Whether ``--compile`` (torch.compile of the model) pays on this machine's device.

    .venv/bin/python bench/compile.py [--epochs 3] [--train-images 1024]

The cifar_lt200k seed network on the real CIFAR-10 subset in ../shared/data (synthetic CIFAR
in the real format where it is absent), the product's loop and data path, all threads of the
machine. Trains ``--epochs`` epochs eagerly, then the same with the model compiled; the first
compiled epoch includes compilation and is reported apart. Last line:
``compile_speedup: X.XX`` (eager epoch time / compiled epoch time, median after the first).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from driver.config import RunConfig
from search_spaces.cifar_lt200k import SEED
from trainables.data.synthetic import write_synthetic_cifar10
from trainables.device import choose_device
from trainables.trial import Trial, TrialJob

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def epoch_times(data_dir: str, epochs: int, limit: int, compile: bool) -> list[float]:
    """Seconds per epoch (train + evaluate) of the seed network through the trial's own path:
    on a GPU the data is resident there and augmented in batches, as in a search."""
    run = RunConfig(
        space="cifar_lt200k",
        name="bench-compile",
        storage=tempfile.gettempdir(),
        data_dir=data_dir,
        train_images=limit,
        max_epochs=epochs,
        grace_period=1,
        cpus_per_trial=torch.get_num_threads(),
        compile=compile,
    )
    trial = Trial({**SEED, "seed": 0}, TrialJob(run.search_space(), run))
    return [report.metrics["epoch_seconds"] for report in trial.epochs()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-images", type=int, default=1024)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = SHARED
        if not (SHARED / "cifar-10-batches-py").exists():
            data_dir = write_synthetic_cifar10(tmp, n_train=args.train_images + 128)
        eager = epoch_times(str(data_dir), args.epochs, args.train_images, compile=False)
        compiled = epoch_times(str(data_dir), args.epochs, args.train_images, compile=True)
    print(f"device: {choose_device().name}, {torch.get_num_threads()} threads")
    print(f"eager epochs (s): {', '.join(f'{t:.2f}' for t in eager)}")
    print(f"compiled epochs (s): {', '.join(f'{t:.2f}' for t in compiled)} (first: compiling)")
    warm = slice(1, None) if args.epochs > 1 else slice(None)  # one epoch: compiling included
    speedup = statistics.median(eager[warm]) / statistics.median(compiled[warm])
    print(f"compile_speedup: {speedup:.2f}")


if __name__ == "__main__":
    main()
