"""Searching in bursts on real training: a 6-trial search grown to 12, against 12 planned.

    .venv/bin/python bench/grow_real.py [--data-dir ../shared/data] [--out bench_runs/grow]
        [--first 6] [--total 12] [--max-epochs 3] [--train-images 1000] [--num-cpus 2]

Three ``nas.run`` commands on the CIFAR-10 subset: ``grown`` with ``--num-samples FIRST``, then
``--resume --num-samples TOTAL``; ``planned`` with ``--num-samples TOTAL`` at once (same seed,
flags and data). Prints, for each experiment, the trials its summary and its ablation CSV count,
the study's trials, the reports written, the seed preset's trials and the wall time of each
burst (from ``run.json``); last line ``grown_trials_counted: N`` (the grown experiment's, from
its summary; TOTAL when nothing was lost). A run folder that exists is reused: a command is
not run again where its experiment finished.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from experiment.journal import load_study  # noqa: E402
from search_spaces.cifar_lt200k import SEED  # noqa: E402


def nas_run(out: Path, name: str, *flags: str) -> None:
    log = out / f"{name}-{len(list(out.glob(f'{name}-*.log')))}.log"
    command = [sys.executable, "-m", "nas.run", "--storage", str(out), "--name", name, *flags]
    print("$", " ".join(command[1:]), flush=True)
    with log.open("w") as f:
        done = subprocess.run(command, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {done.returncode}: see {log}")


def finished(experiment: Path, trials: int) -> bool:
    summary = experiment / "summary.json"
    if not summary.exists():
        return False
    summary = json.loads(summary.read_text())
    return not summary["interrupted"] and summary["trials"] == trials


def bursts(experiment: Path) -> list[str]:
    """Each driver session's trials asked for and wall time, from run.json."""
    record = json.loads((experiment / "run.json").read_text())
    resumes = record.get("resumes", [])
    first = resumes[0].get("grew_from") if resumes else None
    sessions = [{**record, "num_samples": first or record["options"]["num_samples"]}, *resumes]
    lines = []
    for s in sessions:
        wall = datetime.fromisoformat(s["ended"]) - datetime.fromisoformat(s["started"])
        lines.append(f"{s['num_samples']} trials asked, {wall.total_seconds():.0f} s")
    return lines


def describe(experiment: Path) -> dict:
    summary = json.loads((experiment / "summary.json").read_text())
    table = pd.read_csv(experiment / "reports" / "ablations.csv")
    study = load_study(str(experiment))
    seeded = sum(1 for t in study.trials if t.params and SEED.items() <= t.params.items())
    return {
        "summary trials": summary["trials"],
        "ablation rows (not rejected)": int((table["State"] != "rejected").sum()),
        "study trials (not rejected)": sum("rejected" not in t.user_attrs for t in study.trials),
        "seed preset trials": seeded,
        "reports": len(summary["reports"]),
        "bursts": "; ".join(bursts(experiment)),
        "best val_acc": summary["best"]["val_acc"],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", type=Path, default=REPO / "bench_runs" / "grow")
    p.add_argument("--first", type=int, default=6)
    p.add_argument("--total", type=int, default=12)
    p.add_argument("--max-epochs", type=int, default=3)
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--num-cpus", type=int, default=2)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    flags = [
        "--space", "cifar_lt200k", "--data-dir", args.data_dir, "--seed", "0",
        "--max-epochs", str(args.max_epochs), "--grace-period", "1", "--min-rung-steps", "0",
        "--train-images", str(args.train_images), "--num-cpus", str(args.num_cpus),
    ]  # fmt: skip
    grown, planned = args.out / "grown", args.out / "planned"
    if not (grown / "run.json").exists():
        nas_run(args.out, "grown", *flags, "--num-samples", str(args.first))
    if not finished(grown, args.total):
        nas_run(args.out, "grown", "--resume", "--num-samples", str(args.total))
    if not finished(planned, args.total):
        resume = ["--resume"] if (planned / "run.json").exists() else flags
        nas_run(args.out, "planned", *resume, "--num-samples", str(args.total))
    print(f"\n{args.first} trials grown to {args.total}, against {args.total} planned "
          f"({args.max_epochs} epochs, {args.train_images} training images):")  # fmt: skip
    for name, experiment in (("grown", grown), ("planned", planned)):
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in describe(experiment).items()))
    print(f"grown_trials_counted: {describe(grown)['summary trials']}")


if __name__ == "__main__":
    main()
