"""``python -m nas.run``: search a space with Ray Tune, ASHA and Optuna; report the best trial.

python -m nas.run --list-spaces
python -m nas.run --space cifar_lt200k --num-samples 32 --max-epochs 30
python -m nas.run --space cifar_lt200k --smoke-test
python -m nas.run --space cifar_lt200k --name X --resume
python -m nas.run --name X --resume --num-samples 48   # grow a search to 48 trials
"""

from __future__ import annotations

import argparse
import sys

from driver import interrupts
from driver.cluster import check_ray_folders
from driver.config import RunConfig, UsageError, add_flags, check_name, space_named
from driver.drive import Drive, drive
from driver.plan import Plan, asha_line, plan_search
from driver.resume import (
    check_space_unchanged,
    mend_from_copy,
    resumed_config,
    space_fingerprint,
)
from driver.warm_start import earlier_knowledge, warm_line
from experiment import storage
from experiment.layout import ORPHANED, REFIT, REFIT_RECORD, RUN_RECORD
from experiment.lock import DriverLock
from experiment.record import read_record
from experiment.results import load_experiment
from experiment.summary import read_summary
from nas.cli import MISTAKES, check_experiment_writable, command, said
from nas.outcome import next_steps, print_summary, resume_command, summarize
from nas.refit import print_refit, refit
from nas.smoke import data_in_place
from reports.ranking import n_epochs
from search_spaces import SPACES
from searchers.feasible import infeasible
from searchers.rebuild import damage
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
    mend_from_copy(experiment, RUN_RECORD)  # a kill in Tune's upload can cut it short too
    record = read_record(experiment)
    if not record:  # killed between making the folder and recording the run
        raise UsageError(
            f"experiment {name!r} in {where} was stopped before its start was recorded (it has "
            "no run.json): start it again without --resume."
        )
    check_experiment_writable(experiment, "continue it")
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


def run_search(config: RunConfig, resume: bool = False) -> dict:
    """Run (or resume) the search and return the summary written to the experiment folder."""
    import ray

    from driver.tuner import build_tuner, restore_tuner
    from experiment.record import end_record, start_record

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
    # Read and checked before Ray starts, once; on a resume the study holds it already.
    earlier = earlier_knowledge(config, space) if config.warm_start and not resume else None
    warm = warm_line(config, *earlier) if earlier else None

    def begin(plan: Plan) -> None:
        record = start_record(
            experiment, config, plan, ray.cluster_resources(), resume, fingerprint
        )
        if resume and (grew_from := record["resumes"][-1].get("grew_from")):
            kept = set_aside_refit(experiment, f"{REFIT}-of-{grew_from}-trials")
            print(grown_line(grew_from, config.num_samples, kept), flush=True)
        pareto = " against ".join((config.metric, *config.sizes))
        objectives = f" ({pareto})" if config.sizes else ""
        print(
            f"Searching {space.name} ({space.rules.describe()}): {config.num_samples} trials, "
            f"up to {n_epochs(config.max_epochs)}, searcher {config.searcher}{objectives}, seed "
            f"{config.seed}, {plan.max_concurrent} at a time\n"
            f"{asha_line(config, plan, why)}",
            flush=True,
        )
        if warm:
            print(warm, flush=True)

    how = Drive(
        begin=begin,
        tuner=lambda plan: (
            restore_tuner(space, config, plan)
            if resume
            else build_tuner(space, config, plan, earlier)[0]
        ),
        end=lambda: end_record(experiment),
        orphans=lambda n: (
            f"Set aside {n} trial folder(s) started after Tune's last snapshot, which the "
            f"searcher proposes again: {storage.join(experiment, ORPHANED)}"
        ),
        finish=lambda grid, wall: summarize(experiment, grid, space, config, wall),
    )
    summary = drive(config, plan, space, experiment, lock, space.image_sizes(), resume, how)
    if config.refits and not summary["interrupted"] and summary["best"]:
        began = storage.exists(storage.join(experiment, REFIT, REFIT_RECORD))
        summary["refit"] = refit(config, resume=resume and began, command="nas.run")
    return summary


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
        refit_ran = config.refits and "refit" in summary  # else an earlier refit's, kept
        if refit_ran:
            print_refit(summary["refit"], next_step=False)
        if summary["interrupted"] or (refit_ran and summary["refit"]["interrupted"]):
            return interrupts.exit_status()  # Ctrl-C or SIGTERM: the experiment is resumable
        if summary["best"] is not None:
            print(next_steps(summary))
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


def grown_line(grew_from: int, num_samples: int, kept_refit: str | None) -> str:
    """How the search grows, and where the refit of its trials before went (``kept_refit``)."""
    line = (
        f"Growing the search from {grew_from} to {num_samples} trials: the searcher goes on "
        "from every earlier trial, and ASHA compares the new ones with them at every rung."
    )
    if kept_refit:
        line += f" The refit of the first {grew_from} trials is kept in {kept_refit}/."
    return line


def set_aside_refit(experiment: str, name: str) -> str | None:
    """Move the experiment's refit folder to ``name`` in it (a grown search's refit covers all
    its trials); ``name``, or None without one."""
    folder = storage.join(experiment, REFIT)
    if not storage.exists(folder):
        return None
    storage.move(folder, storage.join(experiment, name))
    return name


def completed(config: RunConfig) -> str | None:
    """What to do instead, for a ``--resume`` of an experiment with nothing left: its search ran
    every trial, and the refit it asked for finished. None where something is left."""
    summary = read_summary(config.experiment_dir, set_aside=False)
    refit = summary.get("refit")
    grows = summary.get("trials", 0) < config.num_samples
    if (
        grows
        or summary.get("interrupted", True)
        or (config.refits and summary.get("best") and (not refit or refit.get("interrupted")))
        or damage(load_experiment(config.experiment_dir))  # its study: rebuilt by the resume
    ):
        return None
    where = config.experiment_dir
    then = (
        f"its final model predicts with {command('nas.predict', where)}"
        if refit
        else f"to train its winners again over seeds: {command('nas.refit', where)}"
    )
    return (
        f"Experiment {config.name!r} is complete ({summary.get('trials')} trials"
        + (", refit done" if refit else "")
        + f"): nothing to resume, nothing changed; its results are in {where}/summary.json. "
        f"To search more, add --num-samples above {summary.get('trials')}; {then}."
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


if __name__ == "__main__":
    sys.exit(main())
