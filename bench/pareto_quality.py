"""Pareto search on real training: does a search of accuracy against size find networks much
smaller than the seed preset that the refit cannot tell from it?

    .venv/bin/python bench/pareto_quality.py [--trials 16] [--max-epochs 10]
        [--train-images 2000] [--seeds 0 1] [--front 3] [--refit-seeds 5] [--keep DIR]

On the real CIFAR-10 subset in ../shared/data, per search seed: the product's Pareto search
(``nas.run --objectives val_acc,params``, its default searcher) and the single-objective TPE
search of the same budget (same trials, epochs, training subset and seed, two trials at a
time), then the front's refit (``nas.refit --front K --seeds S --epochs E``): K networks spread
along the Pareto search's front and the seed preset, trained again from the same S seeds on the
same images and scored once on the test split.

Prints per search seed: the Pareto search's front (search-scored: val_acc at the last rung each
trial reached), the hypervolume of each search's front (the same scale for both: val_acc
against parameters as a share of the space's budget, ``reports.pareto.hypervolume``), and the
refit's rows (size against the seed preset's, paired gain with its 95% interval, call). Per seed
``smallest_within_noise``: the smallest refit front network's parameters over the seed
preset's among those whose call is not "worse" and whose mean gain is at least -1 point (1.0
where none); last ``smallest_within_noise_params_ratio: X``, the largest of these over the
seeds (the goal holds on every seed when it holds for this one).

``--keep DIR`` keeps the experiments; a later run with the same ``--keep`` reuses every
finished one and resumes an interrupted one, so a long run can go on in a later session.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_quality import budget_flags  # noqa: E402

from experiment.results import load_experiment  # noqa: E402
from reports.pareto import budget_of, hypervolume, pareto  # noqa: E402

WITHIN = -1.0  # points: a refit gain at least this, and not "worse", is "within the noise"


def finished(folder: Path, key: str | None = None) -> bool:
    """Whether ``folder``'s search (or, with ``key`` "refit", its refit) ran to its end."""
    path = folder / "summary.json"
    if not path.exists():
        return False
    summary = json.loads(path.read_text())
    part = summary if key is None else summary.get(key)
    return part is not None and not part.get("interrupted", True)


def command(module: str, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, text=True)
    if done.returncode != 0:
        sys.exit(f"{module} {' '.join(args)} failed ({done.returncode}): see its output above")


def search(storage: Path, name: str, args, seed: int, *extra: str) -> Path:
    """Run, resume or reuse one search; its folder."""
    folder = storage / name
    if not finished(folder):
        given = (
            f"--space cifar_lt200k --num-samples {args.trials} --max-epochs {args.max_epochs} "
            f"--train-images {args.train_images} --seed {seed} --num-cpus 2 --max-concurrent 2"
        )
        where = ["--data-dir", str(args.data_dir), "--storage", str(storage), "--name", name]
        resume = ["--resume"] if (folder / "run.json").exists() else []
        command("nas.run", *given.split(), *extra, *where, *resume)
    return folder


def refit_front(folder: Path, args) -> dict:
    """Run, resume or reuse the front's refit; its summary."""
    if not finished(folder, "refit"):
        given = f"--front {args.front} --seeds {args.refit_seeds} --epochs {args.max_epochs}"
        resume = ["--resume"] if (folder / "refit" / "refit.json").exists() else []
        command("nas.refit", str(folder), *given.split(), "--num-cpus", "2", *resume)
    return json.loads((folder / "summary.json").read_text())["refit"]


def front_hypervolume(folder: Path) -> tuple[float, object]:
    """The search's front (search-scored) and its hypervolume on the space's budget."""
    experiment = load_experiment(str(folder))
    front = pareto(experiment)
    return hypervolume(front, budget_of(experiment)), front


def smallest_within_noise(refit: dict) -> float:
    """The smallest refit front network's params over the seed preset's among those not
    "worse" with a mean gain of at least ``WITHIN`` points; 1.0 where none."""
    shares = [
        c["params_share"]
        for c in refit["configurations"]
        if c["configuration"].startswith("front_")
        and c.get("call") not in (None, "worse")
        and c["gain"] is not None
        and c["gain"] >= WITHIN
    ]
    return min(shares, default=1.0)


def refit_rows(refit: dict) -> str:
    lines = ["  network      params   size   test_acc (mean)  gain (95%)              call"]

    def number(value, form: str) -> str:  # "-" where a model or an interval is missing
        return "-" if value is None else format(value, form)

    for c in refit["configurations"]:
        gain = (
            "reference"
            if c["configuration"] == "seed_preset"
            else f"{number(c['gain'], '+.2f')} ({number(c['gain_low'], '+.2f')} to "
            f"{number(c['gain_high'], '+.2f')})"
        )
        lines.append(
            f"  {c['configuration']:<12} {c['params']:>7,}  {c['params_share']:>5.0%}  "
            f"{number(c['mean_test_acc'], '.4f'):<16} {gain:<23} {c.get('call') or '-'}"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = budget_flags(__doc__.splitlines()[0])
    p.add_argument("--front", type=int, default=3, help="networks of the front to refit")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not (args.data_dir / "cifar-10-batches-py").exists():
        sys.exit(f"needs the CIFAR-10 batches at {args.data_dir}/cifar-10-batches-py")
    print(
        f"{args.trials} trials, up to {args.max_epochs} epochs, {args.train_images} training "
        f"images of {args.data_dir}/cifar-10-batches-py, search seeds {args.seeds}: a Pareto "
        "search (--objectives val_acc,params) and a TPE search of val_acc alone; the front's "
        f"refit: {args.front} networks and the seed preset, {args.refit_seeds} paired seeds, "
        f"{args.max_epochs} epochs",
        flush=True,
    )
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.keep or Path(tmp)
        for seed in args.seeds:
            two = search(storage, f"pareto-{seed}", args, seed, "--objectives", "val_acc,params")
            one = search(storage, f"tpe-{seed}", args, seed, "--searcher", "tpe")
            refit = refit_front(two, args)
            (hv_two, front), (hv_one, _) = front_hypervolume(two), front_hypervolume(one)
            ratios.append(smallest_within_noise(refit))
            print(f"\nsearch seed {seed}: the Pareto search's front")
            print(front[front["on_front"]].drop(columns=["on_front"]).to_string(index=False))
            print(
                f"front hypervolume (val_acc against params / budget): Pareto search "
                f"{hv_two:.4f}, single-objective TPE {hv_one:.4f} ({hv_two - hv_one:+.4f})"
            )
            print(f"refit of the front, {len(refit['seeds'])} paired seeds:\n{refit_rows(refit)}")
            print(f"smallest_within_noise (seed {seed}): {ratios[-1]:.3f}", flush=True)
    print(f"smallest_within_noise_params_ratio: {max(ratios):.3f}")


if __name__ == "__main__":
    main()
