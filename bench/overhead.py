"""Epoch time of a Ray Tune trial of the product against a bare PyTorch loop, and start-up.

    .venv/bin/python bench/overhead.py [--epochs 4] [--train-images 1024]

Same model (the cifar_lt200k seed network), data, batch size, seed and thread count (1): (a) a
bare loop in this process (train + evaluate per epoch), (b) the product's trainable as a Tune
trial (reporting and checkpointing every epoch). Median epoch time after the first epoch.
Start-up: from Tune starting the trial to its first optimizer step.
Last line: ``tune_over_bare_epoch_time: X.XX``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from nas.tuner import SearchOptions, trainable_for  # noqa: E402
from search_spaces.cifar_lt200k import SEED, SPACE  # noqa: E402
from trainables.data.synthetic import write_synthetic_cifar10  # noqa: E402
from trainables.loop import Training, seed_everything  # noqa: E402
from trainables.tasks import load_task  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def bare(data_dir: str, epochs: int, limit: int) -> list[float]:
    """Epoch seconds (train + evaluate) of the plain loop."""
    torch.set_num_threads(1)
    spec, settings = SPACE.decode(SEED)
    seed_everything(0)
    data = load_task("cifar10", data_dir, 0.1, limit)
    training = Training(spec, settings, torch.device("cpu"))
    loader = DataLoader(data.train, batch_size=settings.batch_size, shuffle=True)
    times, train_only = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        train_only.append(training.train_epoch(loader, steps=len(loader)).seconds)
        training.evaluate(data.val_x, data.val_y)
        times.append(time.perf_counter() - start)
    print(
        f"bare loop: training part of each epoch (s): {', '.join(f'{t:.2f}' for t in train_only)}"
    )
    return times


def tuned(data_dir: str, epochs: int, limit: int, storage: str) -> tuple[list[float], float]:
    import ray
    from ray import tune

    ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
    options = SearchOptions(
        space=SPACE.name,
        name="overhead",
        storage=storage,
        data_dir=data_dir,
        num_samples=1,
        max_epochs=epochs,
        grace_period=epochs,
        reduction_factor=2,
        train_limit=limit,
    )
    tuner = tune.Tuner(
        trainable_for(SPACE, options),
        param_space={**SEED, "seed": 0},
        run_config=tune.RunConfig(
            name="overhead",
            storage_path=storage,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=0,
        ),
    )
    tuner.fit()
    ray.shutdown()
    trial = next(Path(storage, "overhead").glob("*/result.json"))
    results = [json.loads(line) for line in trial.read_text().splitlines()]
    state = json.loads(
        sorted(Path(storage, "overhead").glob("experiment_state-*.json"))[-1].read_text()
    )
    started = json.loads(state["trial_data"][0][1])["start_time"]
    train_only = ", ".join(f"{r['epoch_seconds']:.2f}" for r in results)
    print(f"Tune trial: training part of each epoch (s): {train_only}")
    return [r["time_this_iter_s"] for r in results], results[0]["first_step_at"] - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--train-images", type=int, default=1024)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = str(SHARED) if (SHARED / "cifar-10-batches-py").exists() else None
        data_dir = data_dir or str(write_synthetic_cifar10(Path(tmp) / "data", n_train=2048))
        bare_times = bare(data_dir, args.epochs, args.train_images)
        tune_times, startup = tuned(data_dir, args.epochs, args.train_images, tmp + "/exp")
    bare_median = statistics.median(bare_times[1:])
    tune_median = statistics.median(tune_times[1:])
    print(
        f"data: {data_dir}, {args.train_images} training images, seed network, batch 128, "
        f"{args.epochs} epochs, 1 thread"
    )
    print(f"bare loop epoch seconds:  {', '.join(f'{t:.2f}' for t in bare_times)}")
    print(f"Tune trial epoch seconds: {', '.join(f'{t:.2f}' for t in tune_times)}")
    print(f"trial start-up (scheduled -> first optimizer step): {startup:.2f} s")
    print(f"tune_over_bare_epoch_time: {tune_median / bare_median:.2f}")


if __name__ == "__main__":
    main()
