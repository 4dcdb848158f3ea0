"""Search efficiency: ASHA + TPE against FIFO random search on the real CIFAR-10 subset.

    .venv/bin/python bench/asha_vs_random.py [--trials 18] [--max-epochs 9] [--train-images 1000]
                                             [--val-fraction 0.25] [--seeds 0 1] [--keep DIR]

Both run the product (``python -m nas.run``) on the same space, data, number of trials and
seed: random search with every trial trained to ``--max-epochs`` (grace period = max epochs,
so ASHA never stops one), and TPE with ASHA (grace 1, reduction factor 3: rungs at 1, 3 and 9
epochs, ``--min-rung-steps 0``). Both leave out the space's hand-designed seed trial
(``--no-seed-trial``), so every trial is a drawn candidate; with the same seed, TPE's random
start-up (its first few evaluated trials) draws random search's first candidates. For each
search, in the order results arrived: the best val_acc reached, and the training epochs and
wall time spent until the best-so-far first came within 0.5 points of random search's final
best. Two trials run at a time.
Last line: ``asha_epochs_to_match_random: X.XX`` (ASHA's epochs / random's epochs, summed over
the seeds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TOLERANCE = 0.005


def search(name: str, storage: str, args, seed: int, extra: list[str]) -> list[dict]:
    """Run one search; its results in the order they were reported."""
    flags = (
        f"--space cifar_lt200k --num-samples {args.trials} --max-epochs {args.max_epochs} "
        f"--train-images {args.train_images} --seed {seed} --val-fraction {args.val_fraction} "
        "--no-seed-trial --num-cpus 2 --max-concurrent 2"
    )
    cmd = [sys.executable, "-m", "nas.run", *flags.split(), "--data-dir", str(DATA)]
    cmd += ["--storage", storage, "--name", name, *extra]
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    results = []
    for trial in Path(storage, name).glob("trial_*"):
        results += [json.loads(x) for x in (trial / "result.json").read_text().splitlines()]
    return sorted(results, key=lambda r: r["timestamp"])


def progress(results: list[dict]) -> list[tuple[int, float, float]]:
    """(epochs spent so far, seconds since the first result started, best val_acc so far)."""
    start = results[0]["timestamp"] - results[0]["time_this_iter_s"]
    best, rows = 0.0, []
    for epochs, result in enumerate(results, start=1):
        best = max(best, result["val_acc"])
        rows.append((epochs, result["timestamp"] - start, best))
    return rows


def reach(rows: list[tuple[int, float, float]], target: float) -> tuple[int, float] | None:
    return next(((e, s) for e, s, best in rows if best >= target), None)


def compare(storage: str, args, seed: int) -> tuple[int, int | None]:
    """One seed: both searches, a printed comparison, and (random's, ASHA's) epochs to match."""
    every_epoch = ["--grace-period", str(args.max_epochs)]  # ASHA never stops a trial
    fifo = search(f"random-{seed}", storage, args, seed, ["--searcher", "random", *every_epoch])
    asha_flags = ["--searcher", "tpe", "--grace-period", "1", "--reduction-factor", "3"]
    asha_flags += ["--min-rung-steps", "0"]  # rungs at 1, 3 and 9 epochs, as first measured
    asha = search(f"asha-{seed}", storage, args, seed, asha_flags)
    fifo, asha = progress(fifo), progress(asha)
    target = fifo[-1][2] - TOLERANCE
    fifo_at, asha_at = reach(fifo, target), reach(asha, target)
    print(f"seed {seed}:")
    for label, rows, at in (("random (FIFO)", fifo, fifo_at), ("ASHA + TPE", asha, asha_at)):
        epochs, seconds, best = rows[-1]
        reached = f"{at[0]} epochs / {at[1]:.0f} s" if at else "never"
        print(
            f"  {label:14s} best val_acc {best:.4f}, {epochs} epochs in {seconds:.0f} s; "
            f"reached {target + TOLERANCE:.4f} - 0.005 after {reached}"
        )
    ratio = f"{asha_at[0] / fifo_at[0]:.2f}" if asha_at else "inf"
    print(f"  ASHA / random epochs to match: {ratio}", flush=True)
    return fifo_at[0], asha_at[0] if asha_at else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=18)
    p.add_argument("--max-epochs", type=int, default=9)
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--val-fraction", type=float, default=0.25, help="a larger one ranks better")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one pair of searches each")
    p.add_argument("--keep", help="keep the experiment folders here (for reports.export)")
    args = p.parse_args()
    if not (DATA / "cifar-10-batches-py").exists():
        sys.exit(f"needs the real CIFAR-10 subset at {DATA}/cifar-10-batches-py")
    print(
        f"{args.trials} trials, up to {args.max_epochs} epochs, {args.train_images} training "
        f"images of {DATA}/cifar-10-batches-py, validation fraction {args.val_fraction}, "
        f"seeds {args.seeds}, 2 trials at a time",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.keep or tmp
        pairs = [compare(storage, args, seed) for seed in args.seeds]
    fifo_total = sum(fifo for fifo, _ in pairs)
    asha_total = None if any(asha is None for _, asha in pairs) else sum(a for _, a in pairs)
    ratio = f"{asha_total / fifo_total:.2f}" if asha_total is not None else "inf"
    print(f"asha_epochs_to_match_random: {ratio}")


if __name__ == "__main__":
    main()
