"""``python -m nas.run``: search a space with Ray Tune, ASHA and Optuna; report the best trial.

python -m nas.run --list-spaces
python -m nas.run --space cifar_lt200k --num-samples 32 --max-epochs 30
python -m nas.run --space cifar_lt200k --smoke-test
python -m nas.run --space cifar_lt200k --name X --resume
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

import pandas as pd

from experiment import storage
from experiment.layout import ORPHANED, REFIT, REFIT_RECORD, RUN_RECORD, STUDY
from experiment.lock import DriverLock
from experiment.record import read_record
from experiment.summary import read_summary, write_summary
from nas import interrupts
from nas.cli import MISTAKES, said
from nas.cluster import check_ray_folders
from nas.config import RunConfig, UsageError, add_flags, check_name, space_named
from nas.driver import Drive, drive
from nas.plan import Plan
from nas.refit import print_refit, refit
from nas.resume import (
    check_space_unchanged,
    resumed_config,
    space_fingerprint,
)
from nas.rungs import first_rung, steps_per_epoch, stopping_rungs
from nas.searcher import agree_with_the_logs, infeasible
from nas.smoke import data_in_place
from reports.tables import n_epochs, trained
from search_spaces import SPACES
from trainables.tasks import get_task


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nas.run", description=__doc__.splitlines()[0])
    p.add_argument("--list-spaces", action="store_true", help="list the spaces and exit")
    p.add_argument("--resume", action="store_true", help="continue experiment --name")
    add_flags(p)
    return p


def config_of(args: argparse.Namespace) -> RunConfig:
    """The run's config: from the flags, or on --resume from run.json and the flags given."""
    given = {k: v for k, v in vars(args).items() if k not in ("list_spaces", "resume")}
    if not args.resume:
        config = RunConfig.from_flags(given)
        check_storage(config.storage)
        return config
    name, where = given.get("name"), storage.resolve(given.get("storage", RunConfig.storage))
    if not name:
        raise UsageError("--resume needs the --name of the experiment to continue.")
    check_name(name)  # before the name becomes a path
    check_storage(where)
    experiment = storage.join(where, name)
    if not storage.exists(experiment):
        raise UsageError(f"there is no experiment {name!r} in {where} to resume.")
    record = read_record(experiment)
    if not record:  # killed between making the folder and recording the run
        raise UsageError(
            f"experiment {name!r} in {where} was stopped before its start was recorded (it has "
            "no run.json): start it again without --resume."
        )
    config = resumed_config(name, record, given)
    space = space_named(config.space)
    check_space_unchanged(name, record, space)
    config.check_against(space)
    return config


def check_storage(where: str) -> None:
    """Raise UsageError unless ``where`` can be written and read back (an unreachable bucket,
    a read-only or missing mount), before anything else touches it."""
    try:
        storage.check_writable(where)
    except OSError as e:
        raise UsageError(
            f"storage {where} is not writable ({e}): choose another --storage."
        ) from None


def plan_search(config: RunConfig, space, num_classes: int | None) -> tuple[Plan, str]:
    """The search's plan before Ray starts: the data's classes, and ASHA's first rung placed
    after --min-rung-steps steps of the largest batch (nas.rungs); the steps an epoch takes are
    returned too, for the header to say why the rung is there."""
    images = get_task(space.task).training_images(
        config.data_dir, config.val_fraction, config.train_images
    )
    grace = first_rung(
        config.grace_period, config.max_epochs, config.min_rung_steps, images, space.batch_sizes
    )
    largest = max(space.batch_sizes)
    steps = steps_per_epoch(images, largest)
    why = (
        f"an epoch of {images:,} images is {steps} optimizer step{'s' if steps > 1 else ''} at "
        f"batch {largest}, and every batch size takes {config.min_rung_steps} steps before a "
        "trial can be stopped (--min-rung-steps)"
    )
    rungs = tuple(stopping_rungs(grace, config.max_epochs, config.reduction_factor))
    return Plan(num_classes, grace_period=grace, rungs=rungs), why


def asha_line(config: RunConfig, plan: Plan, why: str) -> str:
    """Where ASHA may stop trials in this search and why there: the first rung moved from the
    --grace-period asked for, or kept there, by the steps an epoch takes (``why``)."""
    rungs = plan.rungs
    if rungs:
        where = f"epochs {', '.join(map(str, rungs))}" if len(rungs) > 1 else f"epoch {rungs[0]}"
        line = (
            f"ASHA may stop a trial at {where}, keeping the best 1/{config.reduction_factor} of "
            f"the trials at each rung"
        )
        first = f"the first rung is at epoch {rungs[0]}"
    else:
        line, first = "ASHA stops no trial in this search", "no rung comes before the last epoch"
    if plan.grace_period != config.grace_period:
        line += f" (--grace-period {config.grace_period} asked; {first} because {why})"
    elif config.min_rung_steps and rungs:
        line += f" ({why}: a rung at epoch {rungs[0]} is allowed)"
    return line + "."


def run_search(config: RunConfig, resume: bool = False) -> dict:
    """Run (or resume) the search and return the summary written to the experiment folder."""
    import ray

    from experiment.record import end_record, start_record
    from nas.tuner import build_tuner, restore_tuner

    space = space_named(config.space)
    experiment = config.experiment_dir
    if storage.exists(storage.join(experiment, RUN_RECORD)) and not resume:
        raise UsageError(
            f"experiment {config.name!r} already exists in {config.storage}: add --resume to "
            "continue it, or choose another --name."
        )
    lock = DriverLock(experiment, config.name)
    lock.check()  # before Ray starts; taken just before the run record is written
    check_ray_folders(local=config.address is None)
    num_classes, found = get_task(space.task).check(config.data_dir)  # before Ray starts
    print(found, flush=True)
    plan, why = plan_search(config, space, num_classes)
    fingerprint = space_fingerprint(space)
    space = config.search_space(num_classes)
    if reason := infeasible(space):
        raise UsageError(reason)

    def begin(plan: Plan) -> None:
        start_record(experiment, config, plan, ray.cluster_resources(), resume, fingerprint)
        print(
            f"Searching {space.name} ({space.rules.describe()}): {config.num_samples} trials, "
            f"up to {n_epochs(config.max_epochs)}, searcher {config.searcher}, seed "
            f"{config.seed}, {plan.max_concurrent} at a time\n"
            f"{asha_line(config, plan, why)}",
            flush=True,
        )

    how = Drive(
        begin=begin,
        tuner=lambda plan: (
            restore_tuner(space, config, plan) if resume else build_tuner(space, config, plan)[0]
        ),
        end=lambda: end_record(experiment),
        orphans=lambda n: (
            f"Set aside {n} trial folder(s) started after Tune's last snapshot, which the "
            f"searcher proposes again: {storage.join(experiment, ORPHANED)}"
        ),
        finish=lambda grid, wall: summarize(experiment, grid, space, config, wall),
    )
    summary = drive(config, plan, space, experiment, lock, space.image_sizes(), resume, how)
    if config.refit_top and not summary["interrupted"] and summary["best"]:
        began = storage.exists(storage.join(experiment, REFIT, REFIT_RECORD))
        summary["refit"] = refit(config, resume=resume and began, command="nas.run")
    return summary


def summarize(experiment: str, grid, space, config: RunConfig, wall: float) -> dict:
    """The summary of a search that ran (counts, best and seed trials), written with the
    reports into the experiment folder."""
    from experiment.results import (
        FAILED,
        FINISHED,
        REJECTED,
        RUNNING,
        STOPPED,
        load_experiment,
        load_study,
    )
    from reports.export import export_to
    from reports.tables import best_trial, derive, seed_trial

    results = load_experiment(experiment)  # read once: the counts, the best trial, the reports
    journal = storage.join(experiment, STUDY)
    if mended := agree_with_the_logs(results, journal, space.metric):
        print(
            f"{journal}: {mended} trial(s) set to the epochs their logs hold (a stop had left "
            "the last ones untold to the searcher).",
            flush=True,
        )
        results.study = load_study(experiment)
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
        "epochs_trained": epochs_by_the_schedule(results.trials),
        "max_epochs": config.max_epochs,
        "wall_seconds": round(wall, 1),
    }
    checkpoints = {r.metrics["trial_id"]: r.checkpoint for r in grid if r.metrics}
    summary["best"], summary["seed"] = (
        None if row is None else trial_summary(row, space, config, checkpoints)
        for row in (best_trial(results), seed_trial(results))
    )
    # The two trials scored on the test split, for the reports to show (never to choose by).
    scored = [t for t in (summary["best"], summary["seed"]) if t]
    results.scores = {t["trial_id"]: t["test_acc"] for t in scored}
    derived = derive(results)  # once: what mattered, the reports
    summary["gain_over_seed"] = gain_over_seed(summary["best"], summary["seed"], space.mode)
    summary["interrupted"] = bool(summary["unfinished"]) or summary["trials"] < config.num_samples
    summary["resume_command"] = resume_command(config)
    summary["importance"] = derived.importance.summary()
    summary["reports"] = export_to(derived)
    if "refit" in (earlier := read_summary(experiment)):
        summary["refit"] = earlier["refit"]  # a refit's results stay until it is redone
    write_summary(experiment, summary)
    return summary


def trial_summary(row, space, config: RunConfig, checkpoints: dict) -> dict:
    """One trial's config, last metrics and accuracy on the test split (from its checkpoint)."""
    from experiment.results import ARCHITECTURE
    from reports.tables import trial_config
    from trainables.checkpoints import evaluate_checkpoint

    test_loss = test_acc = math.nan
    checkpoint = checkpoints.get(row["trial_id"])
    if checkpoint is not None:  # a trial that failed before its first checkpoint has none
        with checkpoint.as_directory() as folder:
            test_loss, test_acc = evaluate_checkpoint(Path(folder), space.task, config.data_dir)
    return {
        "trial_id": row["trial_id"],
        "config": trial_config(row),
        "epochs": int(row["epochs"]),
        "metric": space.metric,
        **{m: float(row[m]) for m in space.metrics if m in row and not pd.isna(row[m])},
        "test_acc": test_acc,
        "test_loss": test_loss,
        **{key: int(row[key]) for key in ARCHITECTURE},
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
        f"Against the seed preset (trial {seed['trial_id']}, {n_epochs(seed['epochs'])}): the "
        f"best trial {verdict} it: {', '.join(parts)}. How sure: one training seed each, and the "
        "best of many trials is partly the luckiest, so this alone is no measured gain; "
        + (
            "the refit's paired seeds say whether it is beyond the seed-to-seed noise (refit.csv)."
            if "refit" in summary
            else "to know, train both again from paired seeds: python -m nas.refit "
            f"{summary['experiment_dir']} (or --refit-top 2 on the next search)."
        )
    )


def epochs_by_the_schedule(trials) -> int:
    """Epochs trained by the trials that ran every epoch or that ASHA stopped (failed and
    unfinished ones left out: their missing epochs are no saving)."""
    from experiment.results import FINISHED, STOPPED

    ended = trained(trials)
    if ended.empty:  # no trial reported an epoch (all failed, or a stop in the first epoch)
        return 0
    return int(ended.loc[ended["State"].isin([FINISHED, STOPPED]), "epochs"].sum())


def epochs_sentence(summary: dict) -> str:
    """The epochs the trials ASHA ran or stopped trained, against all of their epochs: what
    early stopping saved."""
    done = summary.get("epochs_trained")
    if done is None:  # a summary written before this count existed
        return "Epochs trained: not recorded."
    trials = summary["finished"] + summary["stopped_early"]
    full = trials * summary["max_epochs"]
    saved = f", {1 - done / full:.0%} fewer" if full and done < full else ""
    return (
        f"Epochs trained: {done} of the {full} that the {trials} trials ASHA ran or stopped "
        f"take without early stopping ({n_epochs(summary['max_epochs'])} each){saved}."
    )


def print_summary(summary: dict) -> None:
    counts = (
        f"Trials: {summary['trials']} ({summary['finished']} ran every epoch, "
        f"{summary['stopped_early']} stopped early by ASHA, {summary['failed']} failed, "
        f"{summary['unfinished']} unfinished); "
        f"rejected candidates (broke the space's rules, never started): {summary['rejected']}\n"
        f"{epochs_sentence(summary)}\n"
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
        f"\nBest trial {best['trial_id']} (by {best['metric']}): {scores} after "
        f"{n_epochs(best['epochs'])}, test_acc {test}, {best['params']:,} params, "
        f"{best['macs']:,} MACs, receptive field {best['receptive_field']}\n"
        f"  config: {config}\n{seed_sentence(summary)}\n"
        f"{summary['importance']['top']}.\n{counts}"
    )


def main(argv: list[str] | None = None) -> int:
    config = None
    interrupts.resumes_with("nas.run", None)
    try:
        args = parser().parse_args(argv)
        if args.list_spaces:
            for name, space in sorted(SPACES.items()):
                print(f"{name:16s} {space.description}")
            return 0
        config = config_of(args)
        interrupts.resumes_with("nas.run", resume_command(config))
        if args.resume and (done := completed(config)):
            print(done)  # nothing is started, locked or written
            return 0
        with data_in_place(config) as config:
            summary = run_search(config, args.resume)
        print_summary(summary)
        refit_ran = config.refit_top and "refit" in summary  # else an earlier refit's, kept
        if refit_ran:
            print_refit(summary["refit"])
        if summary["interrupted"] or (refit_ran and summary["refit"]["interrupted"]):
            return interrupts.exit_status()  # Ctrl-C or SIGTERM: the experiment is resumable
        return 0 if summary["best"] else 1
    except MISTAKES as e:
        return said("nas.run", e, record_fix="restore it, or start a new --name")
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM, or one before the search ran
        print(interrupts.stopped_at_once(), file=sys.stderr)
        return interrupts.exit_status()
    except OSError as e:
        if not storage.is_full(e):
            raise
        if "ray" in sys.modules:  # Ray's own messages of the trials it stopped come first
            sys.modules["ray"].shutdown()
        print(f"nas.run: error: out of disk space: {full_sentence(e, config)}", file=sys.stderr)
        return 1


def completed(config: RunConfig) -> str | None:
    """What to do instead, for a ``--resume`` of an experiment with nothing left: its search ran
    every trial, and the refit it asked for finished. None where something is left."""
    summary = read_summary(config.experiment_dir, set_aside=False)
    refit = summary.get("refit")
    if summary.get("interrupted", True) or (
        config.refit_top and summary.get("best") and (not refit or refit.get("interrupted"))
    ):
        return None
    where = config.experiment_dir
    return (
        f"Experiment {config.name!r} is complete ({summary.get('trials')} trials"
        + (", refit done" if refit else "")
        + f"): nothing to resume, nothing changed; its results are in {where}/summary.json. "
        "To search more, start a new --name with a larger --num-samples; to train its winners "
        f"again over seeds: python -m nas.refit {where}."
    )


def full_sentence(error: OSError, config: RunConfig) -> str:
    """What could not be written, and how to go on once there is space."""
    what = str(error) if isinstance(error, storage.StorageFull) else f"a write failed ({error})"
    if not storage.exists(storage.join(config.experiment_dir, RUN_RECORD)):
        return f"{what}; nothing was recorded: free space in {config.storage} and start again."
    return (
        f"{what}; the experiment is kept as it was at its last snapshot: free space in "
        f"{config.storage} and continue with `{resume_command(config)}`."
    )


def resume_command(config: RunConfig) -> str:
    return shlex.join(
        ["python", "-m", "nas.run", "--storage", config.storage, "--name", config.name, "--resume"]
    )


if __name__ == "__main__":
    sys.exit(main())
