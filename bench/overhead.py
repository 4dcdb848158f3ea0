"""Epoch time of a Ray Tune trial of the product against a bare PyTorch loop, and start-up.

    .venv/bin/python bench/overhead.py [--epochs 4] [--train-images 1024] [--trials 3]

Same model (the cifar_lt200k seed network), data, batch size, seed and thread count (1): (a) a
bare loop in this process (train + evaluate per epoch), (b) the product's trainable as a Tune
trial (reporting and checkpointing every epoch). Median epoch time after the first epoch.
Start-up: from Tune starting a trial to its first optimizer step beginning, for the first trial
(a cold worker process) and for ``--trials - 1`` more run after it in the same, reused worker.
The step's own compute (about a second for a batch of 128 on one CPU core) is printed apart.
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

from driver.cluster import start_local_ray  # noqa: E402
from driver.config import RunConfig  # noqa: E402
from driver.tuner import trainable_for  # noqa: E402
from search_spaces.cifar_lt200k import SEED, SPACE  # noqa: E402
from trainables.data.synthetic import write_synthetic_cifar10  # noqa: E402
from trainables.device import Device  # noqa: E402
from trainables.loop import Training, seed_everything  # noqa: E402
from trainables.tasks import get_task  # noqa: E402
from trainables.trial import TrialJob  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def bare(data_dir: str, epochs: int, limit: int) -> list[float]:
    """Epoch seconds (train + evaluate) of the plain loop."""
    torch.set_num_threads(1)
    spec, settings = SPACE.decode(SEED)
    seed_everything(0)
    data = get_task("cifar10").load(data_dir, RunConfig.val_fraction, limit, 32)
    training = Training(spec, settings, Device(torch.device("cpu")))
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


def tuned(
    data_dir: str, epochs: int, limit: int, trials: int, storage: str
) -> tuple[list[float], list[float]]:
    """Epoch seconds of the first trial, and each trial's start-up (s), trials one after another.

    One CPU, so the trials run in turn; with actor reuse (as the product runs) every trial but
    the first starts in the warm worker its predecessor left.
    """
    import ray
    from ray import tune

    start_local_ray(1, "ERROR")
    run = RunConfig(
        space=SPACE.name,
        name="overhead",
        storage=storage,
        data_dir=data_dir,
        num_samples=1,
        max_epochs=epochs,
        grace_period=epochs,
        reduction_factor=2,
        train_images=limit,
    )
    tuner = tune.Tuner(
        trainable_for(TrialJob(run.search_space(), run)),
        param_space={**SEED, "seed": tune.grid_search(list(range(trials)))},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(
            name="overhead",
            storage_path=storage,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=0,
        ),
    )
    tuner.fit()
    ray.shutdown()
    folder = Path(storage, "overhead")
    state = json.loads(sorted(folder.glob("experiment_state-*.json"))[-1].read_text())
    started = {}
    for trial_json, run_json in state["trial_data"]:
        started[json.loads(trial_json)["trial_id"]] = json.loads(run_json)["start_time"]
    runs = []
    for path in folder.glob("*/result.json"):
        results = [json.loads(line) for line in path.read_text().splitlines()]
        runs.append((started[results[0]["trial_id"]], results))
    runs.sort(key=lambda run: run[0])
    first = runs[0][1]
    train_only = ", ".join(f"{r['epoch_seconds']:.2f}" for r in first)
    print(f"Tune trial: training part of each epoch (s): {train_only}")
    pids = [results[0]["pid"] for _, results in runs]
    print(f"worker process of each trial: {pids}")
    startups = [results[0]["first_batch_at"] - start for start, results in runs]
    steps = [results[0]["first_step_at"] - results[0]["first_batch_at"] for _, results in runs]
    print(f"the first optimizer step itself (compute, s): {', '.join(f'{t:.2f}' for t in steps)}")
    return [r["time_this_iter_s"] for r in first], startups


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--train-images", type=int, default=1024)
    p.add_argument("--trials", type=int, default=3, help="run in turn; all but the first warm")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = str(SHARED) if (SHARED / "cifar-10-batches-py").exists() else None
        data_dir = data_dir or str(write_synthetic_cifar10(Path(tmp) / "data", n_train=2048))
        bare_times = bare(data_dir, args.epochs, args.train_images)
        tune_times, startups = tuned(
            data_dir, args.epochs, args.train_images, args.trials, tmp + "/exp"
        )
    bare_median = statistics.median(bare_times[1:])
    tune_median = statistics.median(tune_times[1:])
    print(
        f"data: {data_dir}, {args.train_images} training images, seed network, batch 128, "
        f"{args.epochs} epochs, 1 thread"
    )
    print(f"bare loop epoch seconds:  {', '.join(f'{t:.2f}' for t in bare_times)}")
    print(f"Tune trial epoch seconds: {', '.join(f'{t:.2f}' for t in tune_times)}")
    print(f"trial start-up (started -> first optimizer step begins), cold: {startups[0]:.2f} s")
    if len(startups) > 1:
        warm = ", ".join(f"{t:.2f}" for t in startups[1:])
        print(f"trial start-up, warm (actor reused from the previous trial): {warm} s")
    print(f"tune_over_bare_epoch_time: {tune_median / bare_median:.2f}")


if __name__ == "__main__":
    main()
