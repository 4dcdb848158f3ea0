"""Search quality: does a search find a better network than the seed preset, at the same budget?

    .venv/bin/python bench/search_quality.py [--trials 8] [--max-epochs 6] [--train-images 800]
        [--seeds 0 1] [--searchers evolution tpe random] [--retrain-seeds 3] [--no-plain]
        [--keep DIR]

On the real CIFAR-10 subset in ../shared/data, each searcher runs the product
(``python -m nas.run --space cifar_lt200k``) with the same trials, epochs, training subset and
experiment seed, ASHA at grace 1 / reduction 3 under the default fair-rung rule, two trials at a
time. The default searcher runs once more with plain rungs (``--min-rung-steps 0``: rungs at
epochs 1 and 3 whatever the batch size), to show what the fair rule changes (``--no-plain``
leaves that search out). Every search
trains the seed preset to the last epoch (it is never stopped early), so the search's best
network and the seed preset are trained at the same per-trial budget; both are scored on the
stand-in test batch (``summary.json``: ``best.test_acc``, ``seed.test_acc``).

On a few hundred images one trial seed moves accuracy by several points, and a search's best is
partly the luckiest seed. So each search's best config and the seed preset are then trained
again from ``--retrain-seeds`` fresh trial seeds (the same seeds for both: a paired comparison),
at the same budget, through the product's own ``Trial``, two at a time, and scored on the test
batch; the seed preset's retrained scores are shared by every search.

Prints one row per search (searcher, seed, best val_acc, its test accuracy, the seed preset's
test accuracy, the gain in points in the search, epochs trained, then the retrained mean test
accuracies of the best config and of the seed preset and their paired gain) and, last,
``best_over_seed_points: X``: the default searcher's retrained gain over the seed preset, in
accuracy points, averaged over the seeds. ``--keep DIR`` keeps the experiments, and a later run
with the same ``--keep`` reuses every search already finished there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from nas.config import RunConfig  # noqa: E402
from nas.samplers import SAMPLERS  # noqa: E402
from search_spaces import get_space  # noqa: E402
from trainables.checkpoints import evaluate_checkpoint  # noqa: E402
from trainables.trial import Trial, TrialJob  # noqa: E402

SPACE = get_space("cifar_lt200k")

PLAIN = "plain rungs"  # the default searcher with --min-rung-steps 0


def search(storage: Path, name: str, args, seed: int, searcher: str, extra: list[str]) -> dict:
    """Run one search; the row of the table."""
    flags = (
        f"--space cifar_lt200k --num-samples {args.trials} --max-epochs {args.max_epochs} "
        f"--train-images {args.train_images} --seed {seed} --searcher {searcher} "
        "--grace-period 1 --reduction-factor 3 --num-cpus 2 --max-concurrent 2"
    )
    cmd = [sys.executable, "-m", "nas.run", *flags.split(), "--data-dir", str(args.data_dir)]
    cmd += ["--storage", str(storage), "--name", name, *extra]
    if not (storage / name / "summary.json").exists():  # else kept from an earlier run
        shutil.rmtree(storage / name, ignore_errors=True)  # an unfinished one starts again
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"search {name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads((storage / name / "summary.json").read_text())
    best, baseline = summary["best"], summary["seed"]
    epochs = 0
    for trial in (storage / name).glob("trial_*"):
        epochs += len((trial / "result.json").read_text().splitlines())
    return {
        "searcher": searcher + (f" ({PLAIN})" if extra else ""),
        "seed": seed,
        "best_val": best["val_acc"],
        "best_test": best["test_acc"],
        "seed_test": baseline["test_acc"],
        "gain": (best["test_acc"] - baseline["test_acc"]) * 100,
        "epochs": epochs,
        "seconds": summary["wall_seconds"],
        "config": {k: v for k, v in best["config"].items() if k != "seed"},
    }


def retrain(config: dict, seed: int, args) -> float:
    """Test accuracy of ``config`` trained from trial seed ``seed`` at the searches' budget."""
    run = RunConfig(
        space=SPACE.name,
        name="retrain",
        storage=tempfile.gettempdir(),
        data_dir=str(args.data_dir),
        num_samples=1,
        max_epochs=args.max_epochs,
        grace_period=args.max_epochs,
        reduction_factor=2,
        train_images=args.train_images,
        num_classes=10,
    )
    trial = Trial({**config, "seed": seed}, TrialJob(run.search_space(), run))
    *_, last = trial.epochs()
    with tempfile.TemporaryDirectory() as folder:
        last.save(Path(folder))
        return evaluate_checkpoint(Path(folder), SPACE.task, str(args.data_dir))[1]


def retrained(configs: list[dict], args, storage: Path) -> dict[str, float]:
    """Mean retrained test accuracy of each distinct config (key: its JSON), two at a time.

    Each score is kept in ``storage/retrained.json`` as it arrives, so a later run with the same
    ``--keep`` (and the same budget) trains only what is new.
    """
    budget = f"{args.max_epochs} epochs, {args.train_images} images"
    kept_file = storage / "retrained.json"
    kept = json.loads(kept_file.read_text()) if kept_file.exists() else {}
    done = kept.setdefault(budget, {})
    keys = sorted({json.dumps(c, sort_keys=True) for c in configs})
    seeds = [10_000 + i for i in range(args.retrain_seeds)]
    jobs = [(key, seed) for key in keys for seed in seeds if f"{seed} {key}" not in done]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(retrain, json.loads(key), seed, args) for key, seed in jobs]
        for (key, seed), future in zip(jobs, futures, strict=True):
            done[f"{seed} {key}"] = future.result()
            kept_file.write_text(json.dumps(kept, indent=1))
    return {key: statistics.mean(done[f"{seed} {key}"] for seed in seeds) for key in keys}


def table(rows: list[dict]) -> str:
    header = f"{'searcher':26s} {'seed':>4s} {'best val':>8s} {'its test':>8s} "
    header += f"{'seed preset test':>16s} {'gain (points)':>13s} {'epochs':>6s} {'wall s':>6s}"
    retrained = "retrained" in rows[0]
    if retrained:
        header += f" {'retrained best':>14s} {'retrained seed':>14s} {'paired gain':>11s}"
    lines = [header]
    for r in rows:
        line = (
            f"{r['searcher']:26s} {r['seed']:4d} {r['best_val']:8.4f} {r['best_test']:8.4f} "
            f"{r['seed_test']:16.4f} {r['gain']:+13.2f} {r['epochs']:6d} {r['seconds']:6.0f}"
        )
        if retrained:
            line += (
                f" {r['retrained']:14.4f} {r['retrained_seed']:14.4f} {r['paired_gain']:+11.2f}"
            )
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--max-epochs", type=int, default=6)
    p.add_argument("--train-images", type=int, default=800)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--searchers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS))
    p.add_argument("--retrain-seeds", type=int, default=3, help="fresh seeds per retrained config")
    p.add_argument("--no-plain", action="store_true", help="leave out the plain-rungs search")
    p.add_argument("--data-dir", type=Path, default=DATA, help="holds cifar-10-batches-py")
    p.add_argument("--keep", type=Path, help="keep the experiment folders here")
    args = p.parse_args(argv)
    if not (args.data_dir / "cifar-10-batches-py").exists():
        sys.exit(f"needs the CIFAR-10 batches at {args.data_dir}/cifar-10-batches-py")
    default = RunConfig.searcher
    if default not in args.searchers:
        args.searchers.insert(0, default)
    print(
        f"{args.trials} trials, up to {args.max_epochs} epochs, {args.train_images} training "
        f"images of {args.data_dir}/cifar-10-batches-py, seeds {args.seeds}, searchers "
        f"{args.searchers} (default: {default})"
        + ("" if args.no_plain else f" and {default} with {PLAIN}"),
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.keep or Path(tmp)
        for seed in args.seeds:
            runs = [(s, []) for s in args.searchers]
            runs += [] if args.no_plain else [(default, ["--min-rung-steps", "0"])]
            for searcher, extra in runs:
                name = f"{searcher}{'-plain' if extra else ''}-{seed}"
                rows.append(search(storage, name, args, seed, searcher, extra))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
        print(f"Retraining {len(rows)} best configs and the seed preset...", flush=True)
        configs = [r["config"] for r in rows] + [SPACE.presets["seed"]]
        means = retrained(configs, args, storage)
    seed_key = json.dumps(SPACE.presets["seed"], sort_keys=True)
    for r in rows:
        r["retrained"] = means[json.dumps(r["config"], sort_keys=True)]
        r["retrained_seed"] = means[seed_key]
        r["paired_gain"] = (r["retrained"] - r["retrained_seed"]) * 100
    print(table(rows))
    gains = [r["paired_gain"] for r in rows if r["searcher"] == default]
    print(f"best_over_seed_points: {statistics.mean(gains):.2f}")


if __name__ == "__main__":
    main()
