"""``python -m nas.run``: search a space with Ray Tune, ASHA and Optuna; report the best trial.

python -m nas.run --list-spaces
python -m nas.run --space cifar_lt200k --num-samples 32 --max-epochs 30
python -m nas.run --space cifar_lt200k --smoke-test
python -m nas.run --space cifar_lt200k --name X --resume
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

# The classic table reporter shows the metric columns we choose; the newer engine ignores them.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# Checkpointing every epoch is intended; Tune's warning about frequent snapshots is noise here.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

from nas import storage  # noqa: E402
from nas.nodes import prepare_other_nodes  # noqa: E402
from nas.resume import (  # noqa: E402
    SHAPING,
    ResumeRefused,
    check_space_unchanged,
    settings_to_resume,
    space_fingerprint,
)
from nas.run_record import read_record  # noqa: E402
from nas.rungs import first_rung, steps_per_epoch  # noqa: E402
from nas.samplers import SAMPLERS  # noqa: E402
from search_spaces import SPACES, get_space  # noqa: E402
from trainables.data import DataError  # noqa: E402
from trainables.data.synthetic import ensure_synthetic  # noqa: E402
from trainables.device import trials_per_gpu  # noqa: E402
from trainables.tasks import check_data, training_images  # noqa: E402

# Tiny synthetic data: rungs by epochs alone, so ASHA's stopping shows in seconds.
SMOKE = {
    "num_samples": 4,
    "max_epochs": 2,
    "grace_period": 1,
    "reduction_factor": 2,
    "min_rung_steps": 0,
}
DEFAULTS = {
    "searcher": "tpe",
    "seed": 0,
    "val_fraction": 0.1,
    "seed_trial": True,
}


class UsageError(Exception):
    """A bad flag value: printed as one sentence, exit status 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nas.run", description=__doc__.splitlines()[0])
    p.add_argument("--space", help="search space name (see --list-spaces)")
    p.add_argument("--list-spaces", action="store_true", help="list the spaces and exit")
    p.add_argument("--smoke-test", action="store_true", help="tiny synthetic data, a few trials")
    p.add_argument("--num-samples", type=int, help="trials to run (default: the space's)")
    p.add_argument("--max-epochs", type=int, help="epochs of a trial that is never stopped")
    p.add_argument("--grace-period", type=int, help="epochs before ASHA may stop a trial")
    p.add_argument("--reduction-factor", type=int, help="ASHA keeps 1/N of the trials per rung")
    p.add_argument(
        "--searcher",
        choices=SAMPLERS,
        help="evolution (regularized, from the seed preset), tpe (Optuna's TPE) or random "
        f"(default: {DEFAULTS['searcher']})",
    )
    p.add_argument(
        "--min-rung-steps",
        type=int,
        help="optimizer steps every batch size takes before ASHA may stop a trial; moves the "
        "first rung later on small data (default: the space's, 100; 0: --grace-period alone)",
    )
    p.add_argument(
        "--data-dir",
        help="folder holding the data set (default: $NAS_DATA_DIR, else ./data; on --resume, "
        "the experiment's)",
    )
    p.add_argument(
        "--storage",
        default="./experiments",
        help="folder, shared path or URI (s3://...) holding experiments",
    )
    p.add_argument("--name", help="experiment name (default: SPACE-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue experiment --name")
    p.add_argument("--address", help="address of an existing Ray cluster (default: start one)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        help="GPUs per trial, fractions allowed (default: 1 if the cluster has GPUs)",
    )
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: all that fit)")
    p.add_argument(
        "--compile", action="store_true", help="torch.compile each trial's model (GPU, long runs)"
    )
    p.add_argument("--seed", type=int, help="experiment seed; fixes every trial's (default: 0)")
    p.add_argument(
        "--no-seed-trial",
        dest="seed_trial",
        action="store_const",
        const=False,
        help="do not start with the space's seed preset (every trial drawn by the searcher)",
    )
    p.add_argument("--max-failures", type=int, default=0, help="retries of a failed trial")
    p.add_argument("--val-fraction", type=float, help="of the training files (default: 0.1)")
    p.add_argument("--train-images", type=int, help="train on only the first N training images")
    p.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    p.add_argument("--wandb", action="store_true", help="log trials to W&B (offline without key)")
    p.add_argument("--metric", help="what ASHA and the searcher optimise (default: val_acc)")
    p.add_argument("--max-params", type=int, help="parameter budget (default: the space's)")
    p.add_argument("--input-size", type=int, help="fix the input size (spaces that search it)")
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise UsageError naming the first flag whose value cannot work."""
    counts = ("num_samples", "max_epochs", "grace_period", "max_concurrent", "train_images")
    for flag in (*counts, "checkpoint_every", "num_cpus"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1 (got {value}).")
    if args.reduction_factor < 2:
        raise UsageError(f"--reduction-factor must be at least 2 (got {args.reduction_factor}).")
    if args.max_epochs < args.grace_period:
        raise UsageError(
            f"--max-epochs must be >= --grace-period "
            f"(got {args.max_epochs} < {args.grace_period})."
        )
    if args.cpus_per_trial <= 0:
        raise UsageError(f"--cpus-per-trial must be above 0 (got {args.cpus_per_trial}).")
    if args.gpus_per_trial is not None and args.gpus_per_trial < 0:
        raise UsageError(f"--gpus-per-trial must be 0 or more (got {args.gpus_per_trial}).")
    if args.gpus_per_trial is not None and args.gpus_per_trial > 1:
        raise UsageError(
            f"--gpus-per-trial above 1 is not supported: a trial trains on one GPU (got "
            f"{args.gpus_per_trial:g}); use 1, or a fraction to share a GPU between trials."
        )
    if args.min_rung_steps < 0:
        raise UsageError(f"--min-rung-steps must be 0 or more (got {args.min_rung_steps}).")
    if args.max_failures < 0:
        raise UsageError(f"--max-failures must be 0 or more (got {args.max_failures}).")
    if args.max_params is not None and args.max_params < 1:
        raise UsageError(f"--max-params must be at least 1 (got {args.max_params}).")
    if args.input_size is not None and args.input_size < 16:
        raise UsageError(f"--input-size must be at least 16 pixels (got {args.input_size}).")
    if not 0 < args.val_fraction < 1:
        raise UsageError(f"--val-fraction must be between 0 and 1 (got {args.val_fraction}).")


def resolve_args(argv: list[str] | None) -> argparse.Namespace:
    args = parser().parse_args(argv)
    if args.list_spaces:
        return args
    args.storage = storage.resolve(args.storage)
    if args.resume:
        resume_args(args)
    if not args.space:
        raise UsageError(f"--space is required; known spaces: {', '.join(sorted(SPACES))}.")
    try:
        space = get_space(args.space)
    except KeyError as e:
        raise UsageError(f"{e.args[0]}.") from None
    fallback = {**(SMOKE if args.smoke_test else vars(space.asha)), **DEFAULTS}
    fallback["metric"] = space.metric
    for key, value in fallback.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.metric not in space.metrics:
        known = ", ".join(space.metrics)
        raise UsageError(
            f"--metric must be one of {known} for space {space.name} (got {args.metric})."
        )
    if args.input_size is not None and "input_size" not in space.presets["seed"]:
        raise UsageError(
            f"--input-size does not apply to space {space.name}: its input size is fixed."
        )
    args.name = args.name or f"{args.space}-{datetime.now():%Y%m%d-%H%M%S}"
    args.data_dir = args.data_dir or os.environ.get("NAS_DATA_DIR", "./data")
    check_args(args)
    return args


def resume_args(args: argparse.Namespace) -> None:
    """Fill the shaping options from the experiment's run.json, refusing changed ones."""
    if not args.name:
        raise UsageError("--resume needs the --name of the experiment to continue.")
    experiment = storage.join(args.storage, args.name)
    if not storage.exists(experiment):
        raise UsageError(f"there is no experiment {args.name!r} in {args.storage} to resume.")
    record = read_record(experiment)
    given = {arg: getattr(args, arg) for arg in SHAPING.values()}
    for arg, value in settings_to_resume(args.name, record, given).items():
        setattr(args, arg, value)
    args.data_dir = args.data_dir or record["options"].get("data_dir")
    try:
        space = get_space(args.space)
    except KeyError as e:
        raise UsageError(f"{e.args[0]}.") from None
    check_space_unchanged(args.name, record, space)


def start_ray(args: argparse.Namespace) -> None:
    import ray

    if args.address:
        ray.init(address=args.address, logging_level="WARNING")
    else:
        num_cpus = args.num_cpus or os.cpu_count()
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING")


def search_options(args: argparse.Namespace, num_classes: int):
    import ray

    from nas.tuner import SearchOptions

    resources = ray.cluster_resources()
    gpus = args.gpus_per_trial
    if gpus is None:
        gpus = 1.0 if resources.get("GPU", 0) > 0 else 0.0
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    fit = trials_that_fit(nodes, args.cpus_per_trial, gpus)
    if fit < 1:
        raise UsageError(
            f"no node has room for one trial ({args.cpus_per_trial} CPUs, {gpus} GPUs); "
            f"the cluster has {resources.get('CPU', 0)} CPUs and {resources.get('GPU', 0)} GPUs."
        )
    return SearchOptions(
        space=args.space,
        name=args.name,
        storage=args.storage,
        data_dir=str(Path(args.data_dir).resolve()),
        num_samples=args.num_samples,
        max_epochs=args.max_epochs,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        min_rung_steps=args.min_rung_steps,
        searcher=args.searcher,
        seed=args.seed,
        seed_trial=args.seed_trial,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=gpus,
        max_concurrent=args.max_concurrent or fit,
        max_failures=args.max_failures,
        val_fraction=args.val_fraction,
        train_limit=args.train_images,
        checkpoint_every=args.checkpoint_every,
        wandb=args.wandb,
        metric=args.metric,
        max_params=args.max_params,
        input_size=args.input_size,
        num_classes=num_classes,
        compile=args.compile,
    )


def move_first_rung(args: argparse.Namespace, space) -> None:
    """Place ASHA's first rung after --min-rung-steps steps of the largest batch (nas.rungs)."""
    images = training_images(space.task, args.data_dir, args.val_fraction, args.train_images)
    grace = first_rung(
        args.grace_period, args.max_epochs, args.min_rung_steps, images, space.batch_sizes
    )
    if grace == args.grace_period:
        return
    largest = max(space.batch_sizes)
    steps = steps_per_epoch(images, largest)
    where = (
        "ASHA stops no trial in this search"
        if grace == args.max_epochs
        else f"ASHA's first rung is at epoch {grace}, not {args.grace_period}"
    )
    print(
        f"{where}: an epoch of {images:,} images is {steps} optimizer "
        f"step{'s' if steps > 1 else ''} at batch {largest}, and every batch size takes "
        f"{args.min_rung_steps} steps before a trial can be stopped (--min-rung-steps).",
        flush=True,
    )
    args.grace_period = grace


def trials_that_fit(nodes: list[dict], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """Trials that can run at once, given each node's resources (``ray.nodes()``).

    Counted per node and per GPU, since a trial spans neither: 2 GPUs at 0.4 each fit 4 trials,
    not 5, and a GPU node's CPUs bound its own trials. Float division gets a tolerance
    (``1 // 0.2 == 4.0``).
    """
    total = 0
    for resources in nodes:
        fit = math.floor(resources.get("CPU", 0) / cpus_per_trial + 1e-6)
        if gpus_per_trial > 0:
            gpus = int(resources.get("GPU", 0) + 1e-6)
            fit = min(fit, gpus * trials_per_gpu(gpus_per_trial))
        total += fit
    return total


def run_search(args: argparse.Namespace) -> dict:
    """Run (or resume) the search and return the summary written to the experiment folder."""
    import ray

    from nas.run_record import end_record, start_record
    from nas.tuner import build_tuner, restore_tuner
    from reports.export import export_to
    from reports.results import FAILED, FINISHED, REJECTED, RUNNING, STOPPED, load_experiment

    space = get_space(args.space)
    experiment = storage.join(args.storage, args.name)
    if storage.exists(experiment) and not args.resume:
        raise UsageError(
            f"experiment {args.name!r} already exists in {args.storage}: add --resume to "
            "continue it, or choose another --name."
        )
    try:
        storage.check_writable(args.storage)
    except OSError as e:
        raise UsageError(
            f"storage {args.storage} is not writable ({e}): choose another --storage."
        ) from None
    num_classes, found = check_data(space.task, args.data_dir)  # before Ray starts
    print(found, flush=True)
    move_first_rung(args, space)
    start = time.monotonic()
    start_ray(args)
    options = search_options(args, num_classes)
    for node, line in prepare_other_nodes(space.task, options.data_dir, args.smoke_test).items():
        print(f"on node {node}: {line}", flush=True)
    space = space.for_run(options.metric, options.max_params)
    start_record(
        experiment, options, ray.cluster_resources(), args.resume, space_fingerprint(space)
    )
    print(
        f"Searching {space.name} ({space.rules.describe()}): {options.num_samples} trials, "
        f"up to {options.max_epochs} epochs, ASHA grace {options.grace_period} / reduction "
        f"{options.reduction_factor}, searcher {options.searcher}, seed {options.seed}, "
        f"{options.max_concurrent} at a time",
        flush=True,
    )
    if args.resume:
        tuner = restore_tuner(space, options)
    else:
        tuner, _ = build_tuner(space, options)
    grid = tuner.fit()
    wall = time.monotonic() - start
    end_record(experiment)

    results = load_experiment(experiment)  # read once: the counts below and the reports
    states = results.trials["State"].value_counts()
    summary = {
        "space": space.name,
        "experiment_dir": experiment,
        "trials": int(states.drop(REJECTED, errors="ignore").sum()),
        "finished": int(states.get(FINISHED, 0)),
        "stopped_early": int(states.get(STOPPED, 0)),
        "failed": int(states.get(FAILED, 0)),
        "unfinished": int(states.get(RUNNING, 0)),
        "rejected": int(states.get(REJECTED, 0)),
        "wall_seconds": round(wall, 1),
    }
    summary["best"], summary["seed"] = final_trials(grid, space, options)
    summary["gain_over_seed"] = gain_over_seed(summary["best"], summary["seed"], space.mode)
    summary["interrupted"] = bool(summary["unfinished"]) or summary["trials"] < options.num_samples
    summary["resume_command"] = shlex.join(
        ["python", "-m", "nas.run", "--storage", args.storage, "--name", args.name, "--resume"]
        + (["--smoke-test"] if args.smoke_test else [])
    )
    summary["reports"] = export_to(results)
    storage.write_text(storage.join(experiment, "summary.json"), json.dumps(summary, indent=1))
    return summary


def final_trials(grid, space, options) -> tuple[dict | None, dict | None]:
    """The best trial and the seed preset's, each with its test accuracy (None where absent).

    The best is chosen by the last metric value among the trials that ran every epoch, so it
    meets the seed preset (never stopped early) at equal epochs; among all trials if none did.
    """
    from nas.rungs import is_baseline
    from nas.tuner import baseline_config

    sign = 1 if space.mode == "max" else -1
    scored = [
        r for r in grid if r.metrics and math.isfinite(r.metrics.get(space.metric, math.nan))
    ]
    full = [r for r in scored if r.metrics["training_iteration"] >= options.max_epochs]
    if not scored:
        return None, None
    best = max(full or scored, key=lambda r: sign * r.metrics[space.metric])
    baseline = baseline_config(space, options)
    seed = next((r for r in scored if is_baseline(r.config, baseline)), None)
    return trial_summary(best, space, options), seed and trial_summary(seed, space, options)


def trial_summary(result, space, options) -> dict:
    """One trial's config, last metrics and accuracy on the test split (from its checkpoint)."""
    from search_spaces.base import decoder
    from trainables.checkpoints import evaluate_checkpoint

    test_loss = test_acc = math.nan
    if result.checkpoint is not None:  # a trial that failed before its first checkpoint has none
        with result.checkpoint.as_directory() as folder:
            test_loss, test_acc = evaluate_checkpoint(
                Path(folder), space.task, options.data_dir, decoder(space, options.num_classes)
            )
    metrics = result.metrics
    return {
        "trial_id": metrics["trial_id"],
        "config": result.config,
        "epochs": metrics["training_iteration"],
        "metric": space.metric,
        **{m: metrics[m] for m in space.metrics if m in metrics},
        "test_acc": test_acc,
        "test_loss": test_loss,
        **{key: metrics[key] for key in ("params", "macs", "receptive_field")},
    }


def gain_over_seed(best: dict | None, seed: dict | None, mode: str) -> dict | None:
    """The best trial's lead over the seed preset, in accuracy points (negative: behind)."""
    if best is None or seed is None:
        return None
    sign = 1 if mode == "max" else -1
    gains = {best["metric"]: sign * (best[best["metric"]] - seed[best["metric"]]) * 100}
    if not (math.isnan(best["test_acc"]) or math.isnan(seed["test_acc"])):
        gains["test_acc"] = (best["test_acc"] - seed["test_acc"]) * 100
    return {key: round(value, 2) for key, value in gains.items()}


def seed_sentence(summary: dict) -> str:
    """How the best trial compares with the seed preset, in one plain sentence."""
    best, seed, gains = summary["best"], summary["seed"], summary["gain_over_seed"]
    if seed is None:
        return "No seed preset trial in this search (--no-seed-trial): no baseline to compare."
    if best["trial_id"] == seed["trial_id"]:
        return (
            f"The seed preset is the best trial: the search found no better network in "
            f"{summary['trials']} trials."
        )
    metric = best["metric"]
    parts = [f"{metric} {best[metric]:.4f} vs {seed[metric]:.4f} ({gains[metric]:+.2f} points)"]
    if "test_acc" in gains:
        parts.append(
            f"test_acc {best['test_acc']:.4f} vs {seed['test_acc']:.4f} "
            f"({gains['test_acc']:+.2f} points)"
        )
    verdict = "beats" if gains.get("test_acc", gains[metric]) > 0 else "does not beat"
    return (
        f"Against the seed preset (trial {seed['trial_id']}, {seed['epochs']} epochs): the best "
        f"trial {verdict} it: {', '.join(parts)}; one training seed each, and the best of many "
        "trials is partly the luckiest, so train both again from other seeds before trusting a "
        "gain of a few points."
    )


def print_summary(summary: dict) -> None:
    counts = (
        f"Trials: {summary['trials']} ({summary['finished']} ran every epoch, "
        f"{summary['stopped_early']} stopped early by ASHA, {summary['failed']} failed, "
        f"{summary['unfinished']} unfinished); "
        f"rejected candidates (broke the space's rules, never started): {summary['rejected']}\n"
        f"Wall time: {summary['wall_seconds']:.0f} s\n"
        f"Results: {summary['experiment_dir']} (summary.json, rejected.jsonl, trial folders)\n"
        "Reports:\n" + "\n".join(f"  {path}" for path in summary["reports"])
    )
    if summary["interrupted"]:
        counts += f"\nInterrupted before the end; continue with:\n  {summary['resume_command']}"
    best = summary["best"]
    if best is None:
        print(f"\nNo trial reported a finite metric (see error.txt in the trials).\n{counts}")
        return
    config = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["config"].items()
    )
    scores = ", ".join(f"{m} {best[m]:.4f}" for m in ("val_acc", "verify_acc") if m in best)
    test = "n/a (unlabelled)" if math.isnan(best["test_acc"]) else f"{best['test_acc']:.4f}"
    print(
        f"\nBest trial {best['trial_id']} (by {best['metric']}): {scores} after {best['epochs']} "
        f"epochs, test_acc {test}, {best['params']:,} params, "
        f"{best['macs']:,} MACs, receptive field {best['receptive_field']}\n"
        f"  config: {config}\n{seed_sentence(summary)}\n{counts}"
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = resolve_args(argv)
        if args.list_spaces:
            for name, space in sorted(SPACES.items()):
                print(f"{name:16s} {space.description}")
            return 0
        if args.smoke_test:
            task = get_space(args.space).task
            if task == "hw2p2" and args.input_size is None:
                args.input_size = 32  # the synthetic faces' size: seconds per epoch on CPU
            # The same path on every node: each node of a cluster writes its own copy there.
            experiment = storage.join(args.storage, args.name)
            key = hashlib.sha1(experiment.encode()).hexdigest()[:12]
            folder = Path(tempfile.gettempdir()) / f"nas-smoke-{key}"
            try:
                args.data_dir = str(ensure_synthetic(task, folder / "data"))
                print(f"Smoke test: synthetic {task} data in {args.data_dir}", flush=True)
                summary = run_search(args)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        else:
            summary = run_search(args)
        print_summary(summary)
        if summary["interrupted"]:
            return 130  # as for Ctrl-C: the experiment is resumable
        return 0 if summary["best"] else 1
    except (UsageError, ResumeRefused) as e:
        print(f"nas.run: error: {e}", file=sys.stderr)
        return 2
    except DataError as e:
        print(f"nas.run: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
