"""Search quality on real training: does a search's pick beat the seed preset beyond the noise?

    .venv/bin/python bench/search_quality.py [--trials 16] [--max-epochs 10]
        [--train-images 2000] [--seeds 0 1] [--searchers prior tpe evolution random]
        [--refit-top 2] [--refit-seeds 5] [--keep DIR]

On the real CIFAR-10 subset in ../shared/data, each searcher runs the product with the same
trials, epochs, training subset and experiment seed, the default settings otherwise, two trials
at a time, and then the product's own refit (``nas.run --refit-top K --refit-seeds S
--refit-epochs E``): the search's top K distinct configurations and the seed preset trained again
from the same S seeds (paired) for the search's epochs on the same images, each scored once on
the test split. The budget's 10 epochs end the seed preset's first cosine cycle (t0 10), so it is
not judged mid-cycle.

Prints one row per search: searcher, search seed, the search's pick (top_1: its parameters,
paired gain over the seed preset in points with the 95% interval over the refit's seeds), top_2's
gain, Kendall's tau between the search's ranking and the refit's, the seed preset's rank in the
search (1: the search itself found nothing better) and refit score, and the wall time; last,
``best_over_seed_points: X``, the default searcher's mean top_1 gain over the search seeds.

``--keep DIR`` keeps the experiments; a later run with the same ``--keep`` reuses every finished
one and resumes an interrupted one (``nas.run --resume``), so a long run can go on in a later
session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from driver.config import RunConfig  # noqa: E402
from searchers import SAMPLERS  # noqa: E402


def search(storage: Path, name: str, args, seed: int, searcher: str) -> dict:
    """Run (or resume, or reuse) one search with its refit; the row of the table."""
    folder = storage / name
    cmd = [sys.executable, "-m", "nas.run", *flags(args, seed, searcher, storage, name)]
    summary = read_summary(folder)
    if summary is None or summary.get("interrupted") or refit_unfinished(summary):
        resume = ["--resume"] if (folder / "run.json").exists() else []
        done = subprocess.run(cmd + resume, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"search {name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        summary = read_summary(folder)
    refit = summary.get("refit")
    if refit is None:  # nas.run refits only a search with a scored trial other than the seed's
        sys.exit(f"search {name} has no refit in {folder / 'summary.json'}: see its output")
    by_name = {c["configuration"]: c for c in refit["configurations"]}
    top = [by_name.get(f"top_{k}") for k in range(1, args.refit_top + 1)]
    return {
        "searcher": searcher,
        "seed": seed,
        "picks": top,
        "preset": by_name["seed_preset"],
        "tau": refit["kendall_tau"],
        "seconds": summary["wall_seconds"] + refit["wall_seconds"],
    }


def flags(args, seed: int, searcher: str, storage: Path, name: str) -> list[str]:
    """The ``nas.run`` flags of one search and its refit."""
    given = (
        f"--space cifar_lt200k --num-samples {args.trials} --max-epochs {args.max_epochs} "
        f"--train-images {args.train_images} --seed {seed} --searcher {searcher} "
        f"--num-cpus 2 --max-concurrent 2 --refit-top {args.refit_top} "
        f"--refit-seeds {args.refit_seeds} --refit-epochs {args.max_epochs}"
    )
    return [
        *given.split(),
        "--data-dir",
        str(args.data_dir),
        "--storage",
        str(storage),
        "--name",
        name,
    ]


def read_summary(folder: Path) -> dict | None:
    path = folder / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def refit_unfinished(summary: dict) -> bool:
    refit = summary.get("refit")
    return refit is None or refit["interrupted"]


def gain_text(pick: dict | None) -> str:
    """The paired gain and its interval (none over a single paired seed), or "-" if none."""
    if pick is None or pick.get("gain") is None:
        return "-"
    if pick.get("gain_low") is None:
        return f"{pick['gain']:+.2f} (one seed)"
    return f"{pick['gain']:+.2f} ({pick['gain_low']:+.2f} to {pick['gain_high']:+.2f})"


def table(rows: list[dict]) -> str:
    header = ("searcher", "seed", "top_1 params", "top_1 gain (95%)", "top_2 gain (95%)")
    header += ("tau", "preset: search rank, test_acc", "wall s")
    cells = [header]
    for r in rows:
        first = r["picks"][0] if r["picks"] else None
        cells.append(
            (
                r["searcher"],
                str(r["seed"]),
                "-" if first is None else f"{first['params']:,}",
                gain_text(first),
                gain_text(r["picks"][1] if len(r["picks"]) > 1 else None),
                "-" if r["tau"] is None else f"{r['tau']:+.2f}",
                f"{r['preset']['search_rank']}, {r['preset']['mean_test_acc']:.4f}",
                f"{r['seconds']:.0f}",
            )
        )
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=True)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def budget_flags(description: str) -> argparse.ArgumentParser:
    """The flags of a real-training benchmark's budget, shared with bench/pareto_quality.py:
    trials, epochs, training images, search seeds, refit seeds, the data and --keep."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--train-images", type=int, default=2000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="search seeds")
    p.add_argument("--refit-seeds", type=int, default=5, help="paired seeds of the refit")
    p.add_argument("--data-dir", type=Path, default=DATA, help="holds cifar-10-batches-py")
    p.add_argument("--keep", type=Path, help="keep the experiment folders here")
    return p


def parser() -> argparse.ArgumentParser:
    p = budget_flags(__doc__.splitlines()[0])
    # The searchers docs/benchmarks.md compares on one objective (nsga2 came for Pareto searches).
    single = [name for name in SAMPLERS if name != "nsga2"]
    p.add_argument("--searchers", nargs="+", choices=list(SAMPLERS), default=single)
    p.add_argument("--refit-top", type=int, default=2, choices=range(1, 11), metavar="K")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not (args.data_dir / "cifar-10-batches-py").exists():
        sys.exit(f"needs the CIFAR-10 batches at {args.data_dir}/cifar-10-batches-py")
    default = RunConfig.searcher
    if default not in args.searchers:
        args.searchers.insert(0, default)
    print(
        f"{args.trials} trials, up to {args.max_epochs} epochs, {args.train_images} training "
        f"images of {args.data_dir}/cifar-10-batches-py, search seeds {args.seeds}, searchers "
        f"{args.searchers} (default: {default}); refit of the top {args.refit_top} and the seed "
        f"preset with {args.refit_seeds} paired seeds for {args.max_epochs} epochs",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.keep or Path(tmp)
        for seed in args.seeds:
            for searcher in args.searchers:
                rows.append(search(storage, f"{searcher}-{seed}", args, seed, searcher))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    picks = [r["picks"][0] for r in rows if r["searcher"] == default and r["picks"]]
    gains = [p["gain"] for p in picks if p is not None and p.get("gain") is not None]
    print(
        f"best_over_seed_points: {statistics.mean(gains):.2f}"
        if gains
        else "best_over_seed_points: - (no paired gain of the default searcher)"
    )


if __name__ == "__main__":
    main()
