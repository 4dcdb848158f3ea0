"""The search's verdict in one device call: a search as the README's defaults run it, then the
product's refit of its winners and the seed preset over paired seeds.

    python bench/gpu_verdict.py [--trials 48] [--max-epochs 30] [--refit-top 3]
        [--refit-seeds 10] [--train-images N] [--no-pareto] [--data-dir DIR] [--keep DIR]

On the real CIFAR-10 subset in ../shared/data (4,153 training images): ``nas.run`` with the
default searcher, ASHA as the space's defaults say and the space's share of a GPU per trial,
``--refit-top 3 --refit-seeds 10 --refit-epochs 30`` (the top 3 and the seed preset trained again
from the same 10 seeds, each scored once on the test split); then the same budget as a Pareto
search of val_acc against params (``--objectives val_acc,params --refit-front 3``). Every size
is a flag, so a slower device (or the CPU, in the suite) runs a smaller version: the first line
says which sizes ran. ``--num-cpus``/``--max-concurrent`` are left to the product, as a user's
search would.

Prints per search: its pick and every refit row (size, test_acc over seeds, paired gain over the
seed preset with its 95% interval, the verdict), and the wall time; last line
``gpu_gain_points: X``, the paired gain of the single-objective search's pick (the configuration
it ranked first, the one its final model trains) over the seed preset, in test-accuracy points
(0.00 where the search ranked the seed preset first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--train-images", type=int, help="the first N training images (default: all)")
    p.add_argument("--refit-top", type=int, default=3)
    p.add_argument("--refit-seeds", type=int, default=10)
    p.add_argument("--pareto", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--data-dir", type=Path, default=DATA, help="holds cifar-10-batches-py")
    p.add_argument("--keep", type=Path, help="keep the experiment folders here")
    p.add_argument("--extra", default="", help="more nas.run flags (the CPU test: --num-cpus 2)")
    return p


def flags(args, storage: Path, name: str, pareto: bool) -> list[str]:
    """The ``nas.run`` command line of one search and its refit."""
    given = [
        *("--space", "cifar_lt200k", "--num-samples", str(args.trials)),
        *("--max-epochs", str(args.max_epochs), "--refit-seeds", str(args.refit_seeds)),
        *("--refit-epochs", str(args.max_epochs), "--data-dir", str(args.data_dir)),
        *("--storage", str(storage), "--name", name),
    ]
    if args.train_images:
        given += ["--train-images", str(args.train_images)]
    if pareto:
        given += ["--objectives", "val_acc,params", "--refit-front", str(args.refit_top)]
    else:
        given += ["--refit-top", str(args.refit_top)]
    return given + args.extra.split()


def run(args, storage: Path, name: str, pareto: bool) -> dict:
    """One search with its refit (reused where ``--keep`` holds it finished); its summary."""
    folder = storage / name
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if not summary.get("refit") or summary["refit"].get("interrupted"):
        resume = ["--resume"] if (folder / "run.json").exists() else []
        command = [sys.executable, "-m", "nas.run", *flags(args, storage, name, pareto), *resume]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            said = done.stdout[-2000:] + done.stderr[-3000:]
            sys.exit(f"{name} failed ({done.returncode}):\n{said}")
        summary = json.loads(summary_path.read_text())
    if "refit" not in summary:
        sys.exit(f"{name} has no refit in {summary_path}: nas.run refit nothing")
    return summary


def rows(summary: dict) -> list[str]:
    """The refit's rows: configuration, size, score over seeds, paired gain, verdict."""
    refit = summary["refit"]
    score = refit["score"]
    lines = []
    for c in refit["configurations"]:
        mean = c.get(f"mean_{score}")
        gain = "reference" if c.get("gain") is None else f"{c['gain']:+.2f}"
        if c.get("gain_low") is not None:
            gain += f" ({c['gain_low']:+.2f} to {c['gain_high']:+.2f})"
        lines.append(
            f"  {c['configuration']:12s} {c['params']:>8,} params  {score} "
            f"{'-' if mean is None else f'{mean:.4f}'}  gain {gain}"
            + (f"  {c['verdict'].split(' (')[0]}" if c.get("verdict") else "")
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not (args.data_dir / "cifar-10-batches-py").exists():
        sys.exit(f"needs the CIFAR-10 batches at {args.data_dir}/cifar-10-batches-py")
    images = args.train_images or "all"
    print(
        f"{args.trials} trials x up to {args.max_epochs} epochs on {images} training images of "
        f"{args.data_dir}; refit of {args.refit_top} and the seed preset x {args.refit_seeds} "
        f"paired seeds x {args.max_epochs} epochs"
        + ("; then the same as a Pareto search" if args.pareto else ""),
        flush=True,
    )
    searches = [("tpe", False)] + ([("pareto", True)] if args.pareto else [])
    gain = None
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.keep or Path(tmp)
        for name, pareto in searches:
            began = time.monotonic()
            summary = run(args, storage, f"verdict-{name}", pareto)
            refit = summary["refit"]
            pick = (refit.get("final_model") or {}).get("configuration")
            print(
                f"{name}: {summary['trials']} trials ({summary['stopped_early']} stopped early), "
                f"pick {pick}, {time.monotonic() - began:.0f} s",
                flush=True,
            )
            print("\n".join(rows(summary)), flush=True)
            if not pareto and pick is not None:
                picked = {c["configuration"]: c for c in refit["configurations"]}[pick]
                gain = 0.0 if pick == "seed_preset" else picked.get("gain")
    print(f"gpu_gain_points: {'-' if gain is None else f'{gain:.2f}'}")


if __name__ == "__main__":
    main()
