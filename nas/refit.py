"""``python -m nas.refit EXPERIMENT_DIR``: train a search's winners at full budget, over seeds.

python -m nas.refit experiments/cifar-1                  # its top 3 and the seed preset, 3 seeds
python -m nas.refit experiments/cifar-1 --top 5 --seeds 5 --epochs 40
python -m nas.refit experiments/cifar-1 --resume         # after a kill or Ctrl-C
python -m nas.refit experiments/pareto-1 --front 3       # a Pareto search: 3 along its front

The ``--top`` best distinct configurations of the search (``reports.tables.ranking``) and the
space's seed preset are each trained with ``--seeds`` seeds (the same seeds for all, so every
comparison is paired) for ``--epochs`` epochs (default: the space's ``refit_epochs``), as Ray Tune
trials with no early stopping, into ``EXPERIMENT_DIR/refit/``. CIFAR-10 merges the validation
split back into training and scores every model once on the test split; HW2P2 (its test split
unlabelled) trains on the training split and scores on dev. The table printed at the end,
``refit.csv``, the ``Refit`` sheet, the report's section and ``summary.json`` say how each
configuration did against the seed preset, and how far the search's ranking held.

``--front K`` (a Pareto search, ``nas.run --objectives``) refits K networks spread along the
search's front instead (``nas.candidates.pick_front``), each with its size against the seed
preset's and the refit's verdict; the one ``nas.predict`` uses is fixed before any refit score.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from driver import interrupts
from driver.cluster import check_ray_folders
from driver.config import (
    REFIT_SEEDS,
    REFIT_TOP,
    RunConfig,
    UsageError,
    add_flags,
    check_name,
    space_named,
)
from driver.drive import Drive, drive
from driver.plan import Plan
from driver.resume import check_space_unchanged, resumed_config
from experiment import storage
from experiment.layout import REFIT, RUN_RECORD
from experiment.lock import DriverLock
from experiment.record import read_record
from experiment.results import load_experiment
from experiment.summary import read_summary, write_summary
from experiment.trials import FAILED, FINISHED
from nas.candidates import default_epochs, mid_cycle, pick_candidates, pick_front
from nas.cli import MISTAKES, check_experiment_writable, command, said
from nas.refit_record import (
    SETTINGS,
    check_refit_folder,
    check_settings_unchanged,
    end_refit_record,
    read_refit_record,
    write_refit_record,
)
from nas.refit_table import print_refit
from nas.smoke import data_in_place
from reports.ranking import n_epochs
from reports.refit import final_model, refit_tables
from trainables.tasks import get_task

# The nas.run flags a refit takes too: where and how its trials run.
RESOURCES = (
    "address",
    "num_cpus",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_concurrent",
    "max_failures",
    "checkpoint_every",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nas.refit", description=__doc__.splitlines()[0])
    p.add_argument("experiment_dir", help="the search's experiment folder (a path or a URI)")
    for flag, dest, text in (
        ("--top", "refit_top", "distinct configurations of the search to refit, best first"),
        ("--front", "refit_front", "a Pareto search: networks spread along its front to refit"),
        ("--seeds", "refit_seeds", "seeds each configuration trains with, the same for all"),
        ("--epochs", "refit_epochs", "epochs of every model"),
    ):
        default = {"refit_top": REFIT_TOP, "refit_seeds": REFIT_SEEDS, "refit_front": "off"}
        default = default.get(dest, "the space's")
        p.add_argument(
            flag,
            type=int,
            dest=dest,
            metavar="N",
            default=argparse.SUPPRESS,
            help=f"{text} (default: {default})",
        )
    p.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="the data (default: the search's)"
    )
    p.add_argument("--resume", action="store_true", help="continue the experiment's refit")
    add_flags(p, only=RESOURCES)
    return p


def config_of(args: argparse.Namespace) -> RunConfig:
    """The search's config from its run.json, with the refit's settings and resources given."""
    given = {k: v for k, v in vars(args).items() if k not in ("experiment_dir", "resume")}
    for key, flag in SETTINGS.items():
        if given.get(key) is not None and given[key] < 1:
            raise UsageError(f"--{flag} must be at least 1 (got {given[key]}).")
    experiment = storage.resolve(args.experiment_dir)
    where, _, name = experiment.rstrip("/").rpartition("/")
    record = read_record(experiment) if name and storage.exists(experiment) else {}
    if not record.get("options"):
        raise UsageError(
            f"{experiment} is not an experiment folder (it has no {RUN_RECORD} with the search's "
            "options): give the folder nas.run wrote, EXPERIMENT_DIR = --storage/--name."
        )
    check_name(name)
    check_experiment_writable(experiment, "refit it")
    search = resumed_config(name, record, {"storage": where, "data_dir": given.get("data_dir")})
    # The search's own --refit-* (nas.run's) are not this command's: only flags given count.
    search = dataclasses.replace(search, **dict.fromkeys(SETTINGS))
    if given.get("refit_front") and given.get("refit_top"):
        raise UsageError("--top and --front choose the refit's networks two ways: give one.")
    if given.get("refit_front") and not search.sizes:
        raise UsageError(
            f"--front refits a Pareto search's front; {name!r} searched one objective "
            f"({search.metric}): refit its best with --top N."
        )
    return dataclasses.replace(search, **{k: v for k, v in given.items() if k != "data_dir"})


def refit(search: RunConfig, resume: bool, command: str = "nas.refit") -> dict:
    """Refit ``search``'s winners (its ``refit_*`` settings) and return the refit's summary,
    also written into the experiment's summary.json. Starts Ray unless the caller has.
    ``command``: the module run (nas.refit, or nas.run --refit-top), for refit.json."""

    from driver.tuner import build_refit_tuner, restore_tuner

    experiment, space = search.experiment_dir, space_named(search.space)
    DriverLock(experiment, search.name).check()  # a search still running has no final ranking
    check_ray_folders(local=search.address is None)
    record = read_record(experiment)
    check_space_unchanged(
        search.name, record, space, "restore that file to refit this search, or search again"
    )
    folder = storage.join(experiment, REFIT)
    earlier = read_refit_record(folder)
    check_refit_folder(search, record, earlier, resume)
    num_classes, found = get_task(space.task).check(search.data_dir)
    print(found, flush=True)
    space = search.search_space(num_classes)
    if earlier:
        candidates, settings = earlier["candidates"], earlier
        check_settings_unchanged(search, earlier)
    else:
        results = load_experiment(experiment)
        if search.refit_front:
            candidates, pick, why = pick_front(results, space, search.refit_front)
            settings = {"top": None, "front": search.refit_front, "pick": pick, "pick_why": why}
        else:
            top = search.refit_top or REFIT_TOP
            candidates, settings = pick_candidates(results, space, top), {"top": top}
        settings |= {
            "seeds": list(range(search.refit_seeds or REFIT_SEEDS)),
            "epochs": search.refit_epochs or default_epochs(search, space),
        }
    configs = {c["name"]: c["config"] for c in candidates}
    sizes = tuple(sorted({space.decode(c)[0].image_size for c in configs.values()}))
    space = dataclasses.replace(space, input_sizes=sizes)  # the decode caches a refit reads
    # W&B would file the models under a project called "refit": left to the search's runs.
    run = dataclasses.replace(
        search,
        storage=experiment,
        name=REFIT,
        max_epochs=settings["epochs"],
        grace_period=None,  # no early stopping
        wandb=False,
    )
    plan = Plan(num_classes)
    lock = DriverLock(folder, f"{search.name}/{REFIT}")
    lock.check()

    def begin(plan: Plan) -> None:
        write_refit_record(folder, search, record, candidates, settings, earlier, command)
        print(
            f"Refitting {len(configs) - 1} configuration(s) of {search.name} and the seed preset: "
            f"{len(settings['seeds'])} seeds each, {n_epochs(settings['epochs'])}, no early "
            f"stopping, {plan.max_concurrent} at a time, into {folder}",
            flush=True,
        )
        for line in mid_cycle(space, configs, settings["epochs"]):
            print(line, flush=True)

    grid = (configs, settings["seeds"])
    how = Drive(
        begin=begin,
        tuner=lambda plan: (
            restore_tuner(space, run, plan, grid)
            if resume
            else build_refit_tuner(space, run, plan, *grid)
        ),
        end=lambda: end_refit_record(folder),
        orphans=lambda n: f"Set aside {n} model folder(s) Tune never recorded.",
        finish=lambda _grid, wall: summarize(experiment, search, wall),
    )
    return drive(run, plan, space, folder, lock, sizes, resume, how)


def summarize(experiment: str, search: RunConfig, wall: float) -> dict:
    """The refit's summary (per configuration, Kendall's tau, the final model), written into the
    experiment's summary.json beside the search's, with the reports."""
    from reports.export import export_to  # the charts' matplotlib: only when writing
    from reports.tables import derive
    from searchers.rebuild import study_for_reports

    results = load_experiment(experiment)
    tables = refit_tables(results.refit)
    states = tables.models["State"].value_counts()
    expected = len(tables.configurations) * len(tables.seeds)  # Tune makes grid trials lazily
    unfinished = expected - int(states.get(FINISHED, 0)) - int(states.get(FAILED, 0))
    configurations = tables.configurations.astype(object)
    final = final_model(tables)
    summary = {
        "epochs": tables.epochs,
        "seeds": tables.seeds,
        "score": tables.score,
        "models": expected,
        "finished": int(states.get(FINISHED, 0)),
        "failed": int(states.get(FAILED, 0)),
        "unfinished": unfinished,
        "configurations": configurations.where(configurations.notna(), None).to_dict("records"),
        "kendall_tau": tables.kendall_tau,
        **(
            {
                "front_networks": len(tables.configurations) - 1,
                "pick": tables.pick,
                "pick_why": tables.pick_why,
            }
            if tables.pick
            else {}
        ),
        "final_model": None
        if final is None
        else {
            "model": final["Name"],
            "configuration": final["configuration"],
            "seed": int(final["seed"]),
            tables.score: float(final[tables.score]),
        },
        "wall_seconds": round(wall, 1),
        "interrupted": unfinished > 0,
        "resume_command": command("nas.refit", experiment, "--resume"),
        "predict_command": command("nas.predict", experiment),
    }
    whole = read_summary(experiment)
    whole["refit"] = summary
    if rebuilt := study_for_reports(results):  # the search's study, for the reports
        print(f"{rebuilt}.", flush=True)
    summary["reports"] = whole["reports"] = export_to(derive(results))  # rebuilt once, above
    write_summary(experiment, whole)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    resume = command("nas.refit", args.experiment_dir, "--resume")
    interrupts.resumes_with("nas.refit", resume)
    try:
        search = config_of(args)
        with data_in_place(search) as search:
            summary = refit(search, args.resume)
        print_refit(summary)
        if summary["interrupted"]:
            return interrupts.exit_status()  # Ctrl-C or SIGTERM: the refit is resumable
        return 0 if summary["final_model"] else 1
    except MISTAKES as e:
        return said("nas.refit", e, record_fix="restore it to refit")
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM, or one before the refit ran
        print(interrupts.stopped_at_once(), file=sys.stderr)
        return interrupts.exit_status()
    except OSError as e:
        if not storage.is_full(e):
            raise
        print(
            f"nas.refit: error: out of disk space ({e}): free space and continue with `{resume}`.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
