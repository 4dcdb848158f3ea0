"""``python -m nas.refit EXPERIMENT_DIR``: train a search's winners at full budget, over seeds.

python -m nas.refit experiments/cifar-1                  # its top 3 and the seed preset, 3 seeds
python -m nas.refit experiments/cifar-1 --top 5 --seeds 5 --epochs 40
python -m nas.refit experiments/cifar-1 --resume         # after a kill or Ctrl-C

The ``--top`` best distinct configurations of the search (``reports.tables.ranking``) and the
space's seed preset are each trained with ``--seeds`` seeds (the same seeds for all, so every
comparison is paired) for ``--epochs`` epochs (default: the space's ``refit_epochs``), as Ray Tune
trials with no early stopping, into ``EXPERIMENT_DIR/refit/``. CIFAR-10 merges the validation
split back into training and scores every model once on the test split; HW2P2 (its test split
unlabelled) trains on the training split and scores on dev. The table printed at the end,
``refit.csv``, the ``Refit`` sheet, the report's section and ``summary.json`` say how each
configuration did against the seed preset, and how far the search's ranking held.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from pathlib import Path

from experiment import storage
from experiment.layout import REFIT, REFIT_RECORD, RUN_RECORD
from experiment.lock import DriverLock
from experiment.record import RecordError, now, read_record
from experiment.results import FAILED, FINISHED, Experiment, load_experiment
from experiment.summary import read_summary, write_summary
from nas import interrupts
from nas.cli import MISTAKES, said
from nas.cluster import check_ray_home, start_ray, with_resources
from nas.config import (
    REFIT_SEEDS,
    REFIT_TOP,
    RunConfig,
    UsageError,
    add_flags,
    check_name,
    space_named,
)
from nas.nodes import prepare_other_nodes
from nas.resume import (
    ResumeRefused,
    check_space_unchanged,
    resumed_config,
    set_aside_orphans,
    set_aside_torn_snapshots,
    torn_sentence,
)
from nas.smoke import data_in_place
from reports.refit import PRESET, final_model, refit_tables
from reports.tables import ranking, trial_config
from search_spaces.base import Config, SearchSpace, is_preset
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
REFIT_KEYS = ("search", "score", "top", "seeds", "epochs", "candidates")  # refit.json's own
SETTINGS = {"refit_top": "top", "refit_seeds": "seeds", "refit_epochs": "epochs"}  # refit.json


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nas.refit", description=__doc__.splitlines()[0])
    p.add_argument("experiment_dir", help="the search's experiment folder (a path or a URI)")
    for flag, dest, text in (
        ("--top", "refit_top", "distinct configurations of the search to refit, best first"),
        ("--seeds", "refit_seeds", "seeds each configuration trains with, the same for all"),
        ("--epochs", "refit_epochs", "epochs of every model"),
    ):
        default = {"refit_top": REFIT_TOP, "refit_seeds": REFIT_SEEDS}.get(dest, "the space's")
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
    experiment = storage.resolve(args.experiment_dir).rstrip("/")
    where, _, name = experiment.rpartition("/")
    check_name(name)
    record = read_record(experiment) if storage.exists(experiment) else {}
    if not record.get("options"):
        raise UsageError(
            f"{experiment} is not an experiment folder (it has no {RUN_RECORD} with the search's "
            "options): give the folder nas.run wrote, EXPERIMENT_DIR = --storage/--name."
        )
    search = resumed_config(name, record, {"storage": where, "data_dir": given.get("data_dir")})
    # The search's own --refit-* (nas.run's) are not this command's: only flags given count.
    search = dataclasses.replace(search, **dict.fromkeys(SETTINGS))
    return dataclasses.replace(search, **{k: v for k, v in given.items() if k != "data_dir"})


def refit(search: RunConfig, resume: bool, command: str = "nas.refit") -> dict:
    """Refit ``search``'s winners (its ``refit_*`` settings) and return the refit's summary,
    also written into the experiment's summary.json. Starts Ray unless the caller has.
    ``command``: the module run (nas.refit, or nas.run --refit-top), for refit.json."""
    import ray

    from nas.tuner import build_refit_tuner, fit, restore_tuner

    experiment, space = search.experiment_dir, space_named(search.space)
    DriverLock(experiment, search.name).check()  # a search still running has no final ranking
    check_ray_home()
    record = read_record(experiment)
    check_space_unchanged(
        search.name, record, space, "restore that file to refit this search, or search again"
    )
    folder = storage.join(experiment, REFIT)
    earlier = read_refit_record(folder)
    check_refit_folder(search, record, earlier, resume)
    num_classes, found = get_task(space.task).check(search.data_dir)
    print(found, flush=True)
    search = dataclasses.replace(search, num_classes=num_classes)
    space = search.search_space()
    if earlier:
        candidates, settings = earlier["candidates"], earlier
        check_settings_unchanged(search, earlier)
    else:
        top = search.refit_top or REFIT_TOP
        candidates = pick_candidates(load_experiment(experiment), space, top)
        settings = {
            "top": top,
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
        grace_period=None,
        wandb=False,
    )
    lock = DriverLock(folder, f"{search.name}/{REFIT}")
    lock.check()
    # Decode caches for the sizes the refit trains at, with every core, before models start.
    get_task(space.task).prepare(search.data_dir, search.train_images, sizes, os.cpu_count() or 1)
    start = time.monotonic()
    if not ray.is_initialized():
        start_ray(run)
    run = with_resources(run)
    for node, line in prepare_other_nodes(space, run).items():
        print(f"on node {node}: {line}", flush=True)
    with lock:
        write_refit_record(folder, search, record, candidates, settings, earlier, command)
        print(
            f"Refitting {len(configs) - 1} configuration(s) of {search.name} and the seed preset: "
            f"{len(settings['seeds'])} seeds each, {settings['epochs']} epochs, no early "
            f"stopping, {run.max_concurrent} at a time, into {folder}",
            flush=True,
        )
        for line in mid_cycle(space, configs, settings["epochs"]):
            print(line, flush=True)
        if resume and (torn := set_aside_torn_snapshots(folder)):
            print(torn_sentence(torn), flush=True)
        if resume and (orphans := set_aside_orphans(folder)):
            print(f"Set aside {len(orphans)} model folder(s) Tune never recorded.", flush=True)
        grid = (configs, settings["seeds"])
        tuner = restore_tuner(space, run, grid) if resume else build_refit_tuner(space, run, *grid)
        fit(tuner)
        end_refit_record(folder)
    return summarize(experiment, search, time.monotonic() - start)


def mid_cycle(space: SearchSpace, configs: dict[str, Config], epochs: int) -> list[str]:
    """A line per configuration whose recipe does not end a cycle at ``epochs``: its models
    are scored part-way down a cosine, at a higher learning rate than at a cycle's end."""
    lines = []
    for name, config in configs.items():
        _, recipe = space.decode({**config, "seed": 0})
        ends = recipe.cycle_ends(epochs)
        if epochs not in ends:
            before = [e for e in ends if e < epochs]
            nearest = f"{before[-1]} or {ends[-1]}" if before else str(ends[-1])
            lines.append(
                f"note: {name} ({recipe.cycle_knobs()}) is mid-cycle at "
                f"epoch {epochs}: it is scored before its learning rate comes down; its cycles "
                f"end at epoch {nearest}."
            )
    return lines


def read_refit_record(folder: str) -> dict | None:
    path = storage.join(folder, REFIT_RECORD)
    if not storage.exists(path):
        return None
    try:
        record = json.loads(storage.read_text(path))
    except ValueError as e:
        raise RecordError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path} is not a refit record (a {type(record).__name__})")
    if missing := [key for key in REFIT_KEYS if key not in record]:
        raise RecordError(f"{path} is not a whole refit record (no {', '.join(missing)})")
    return record


def check_refit_folder(search: RunConfig, record: dict, earlier: dict | None, resume: bool):
    """Raise UsageError where the refit folder does not fit the command: a refit already there
    without --resume, none to resume, or one made for another experiment."""
    folder = storage.join(search.experiment_dir, REFIT)
    if earlier is not None and earlier.get("search") != search_identity(record):
        made_for = earlier.get("search") or {}
        raise UsageError(
            f"{folder} holds the refit of another search ({made_for.get('name')!r}, started "
            f"{made_for.get('started')}), not of {search.name!r}: move that folder away to "
            "refit this search."
        )
    if earlier is not None and not resume:
        raise UsageError(
            f"experiment {search.name!r} already has a refit in {folder}: add --resume to "
            "continue it, or move that folder away to refit again."
        )
    if earlier is None and resume:
        raise UsageError(
            f"experiment {search.name!r} has no refit to resume ({folder} has no "
            f"{REFIT_RECORD}): leave out --resume to start one."
        )


def check_settings_unchanged(search: RunConfig, earlier: dict) -> None:
    """Raise ResumeRefused where a refit setting given again differs from the recorded one."""
    recorded = {**earlier, "seeds": len(earlier["seeds"])}
    changed = [
        f"--{flag} (was {recorded[flag]}, now {getattr(search, key)})"
        for key, flag in SETTINGS.items()
        if getattr(search, key) is not None and getattr(search, key) != recorded[flag]
    ]
    if changed:
        raise ResumeRefused(
            f"the refit of {search.name!r} was started with other settings: "
            f"{', '.join(changed)}; resume without them, or move refit/ away to refit again."
        )


def search_identity(record: dict) -> dict:
    """What tells one search from another whatever its folder is called now."""
    return {k: record.get(k) for k in ("space", "started", "seed")} | {
        "name": record.get("options", {}).get("name")
    }


def default_epochs(search: RunConfig, space: SearchSpace) -> int:
    """The space's full recipe; a smoke test's own few epochs."""
    return search.max_epochs if search.smoke_test else space.refit_epochs


def pick_candidates(experiment: Experiment, space: SearchSpace, top: int) -> list[dict]:
    """The seed preset, then the ``top`` best distinct configurations of the search other than
    it (fewer where the search has fewer, said on the way): name, config (no trial seed), the
    search's rank and value, params and MACs."""
    ranked = ranking(experiment)
    if ranked.empty:
        raise UsageError(
            f"experiment {Path(experiment.location).name!r} has no trial with a {space.metric} "
            "yet: nothing to refit; run or resume the search first."
        )
    preset = {k: v for k, v in space.preset("seed").items() if k != "seed"}
    seed, others, seen = candidate(space, PRESET, preset), [], set()
    for place, (_, row) in enumerate(ranked.iterrows(), start=1):
        config = {k: v for k, v in trial_config(row).items() if k != "seed"}
        if is_preset(config, preset):
            if seed["search_rank"] is None:  # its best trial, where it ran more than once
                seed = candidate(space, PRESET, preset, place, row)
            continue
        key = json.dumps(config, sort_keys=True)
        if key not in seen and len(others) < top:
            seen.add(key)
            others.append(candidate(space, f"top_{len(others) + 1}", config, place, row))
    if not others:
        raise UsageError(
            "the search has no configuration other than the seed preset with a score: nothing to "
            "compare the preset with; run more trials first."
        )
    if len(others) < top:
        print(
            f"The search has {len(others)} distinct configuration(s) besides the seed preset: "
            f"refitting {len(others)}, not {top}.",
            flush=True,
        )
    return [seed, *others]


def candidate(
    space: SearchSpace, name: str, config: Config, place: int | None = None, row=None
) -> dict:
    """One configuration to refit, as refit.json records it."""
    figures = space.analyze(space.decode({**config, "seed": 0})[0]).figures()
    return {
        "name": name,
        "config": config,
        "search_rank": place,  # in the search's ranking of its trials; None: never trained there
        "search_trial": None if row is None else row["Name"],
        "search_value": None if row is None else float(row["at_rung"]),
        "params": figures["params"],
        "macs": figures["macs"],
    }


def write_refit_record(
    folder: str,
    search: RunConfig,
    record: dict,
    candidates: list[dict],
    settings: dict,
    earlier: dict | None,
    module: str,
) -> None:
    """refit.json: started (and on resume, resumed) before any model trains."""
    path = storage.join(folder, REFIT_RECORD)
    command = shlex.join([Path(sys.executable).name, "-m", module, *sys.argv[1:]])
    if earlier:
        earlier.setdefault("resumes", []).append({"command": command, "started": now()})
        storage.write_text(path, json.dumps(earlier, indent=1))
        return
    task = get_task(space_named(search.space).task)
    refit_record = {
        "command": command,
        "search": search_identity(record),
        "search_metric": search.metric,
        "score": "test_acc" if task.has_test_labels else search.metric,
        **settings,
        "candidates": candidates,
        "started": now(),
        "ended": None,
    }
    storage.write_text(path, json.dumps(refit_record, indent=1))


def end_refit_record(folder: str) -> None:
    path = storage.join(folder, REFIT_RECORD)
    record = json.loads(storage.read_text(path))
    record["ended"] = now()
    storage.write_text(path, json.dumps(record, indent=1))


def summarize(experiment: str, search: RunConfig, wall: float) -> dict:
    """The refit's summary (per configuration, Kendall's tau, the final model), written into the
    experiment's summary.json beside the search's, with the reports."""
    from reports.export import export_to  # the charts' matplotlib: only when writing

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
        "resume_command": shlex.join(["python", "-m", "nas.refit", experiment, "--resume"]),
    }
    whole = read_summary(experiment)
    whole["refit"] = summary
    summary["reports"] = whole["reports"] = export_to(results)
    write_summary(experiment, whole)
    return summary


def print_refit(summary: dict) -> None:
    """One row per configuration (the seed preset first), the verdicts, Kendall's tau."""
    score = summary["score"]
    header = ("configuration", "search rank", "params", "MACs", score, "95% interval", "gain")
    rows = [header] + [table_row(c, score) for c in summary["configurations"]]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    print(
        f"\nRefit: {summary['finished']} of {summary['models']} models trained "
        f"{summary['epochs']} epochs (seeds {summary['seeds']}), scored by {score}; mean ± std "
        "over seeds, gain over the seed preset in points, paired by seed"
    )
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for c in summary["configurations"]:
        if c.get("verdict"):
            print(f"{c['configuration']}: {c['verdict']}")
    tau = summary["kendall_tau"]
    print(
        "Search ranking against refit ranking: "
        + (
            "no rank correlation (fewer than two configurations scored, or their scores all tie)"
            if tau is None
            else f"Kendall's tau {tau:+.2f} (1: the search's order held, 0: unrelated)"
        )
    )
    if final := summary["final_model"]:
        print(
            f"Final model: {final['model']}, the search's pick ({final['configuration']}) with "
            f"the first of the seeds, chosen before any score ({score} {final[score]:.4f} only "
            "reports); nas.predict uses it"
        )
    elif summary["finished"]:
        print("No model of the search's pick finished: nas.predict uses the search's best trial")
    print(f"Wall time: {summary['wall_seconds']:.0f} s\nReports:")
    print("\n".join(f"  {path}" for path in summary["reports"]))
    if summary["interrupted"]:
        print(f"Interrupted before the end; continue with:\n  {summary['resume_command']}")


def table_row(c: dict, score: str) -> tuple[str, ...]:
    mean, std, low = c[f"mean_{score}"], c[f"std_{score}"], c["ci95_low"]
    if c["configuration"] == PRESET:
        gain = "reference"
    else:
        gain = "-" if c.get("gain") is None else f"{c['gain']:+.2f}"
    return (
        c["configuration"],
        "-" if c["search_rank"] is None else str(c["search_rank"]),
        f"{c['params']:,}",
        f"{c['macs']:,}",
        "-" if mean is None else f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}"),
        "-" if low is None else f"{low:.4f} to {c['ci95_high']:.4f}",
        gain,
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
        print(
            f"nas.refit: stopped at once; continue with: "
            f"`python -m nas.refit {args.experiment_dir} --resume`.",
            file=sys.stderr,
        )
        return interrupts.exit_status()
    except OSError as e:
        if not storage.is_full(e):
            raise
        print(
            f"nas.refit: error: out of disk space ({e}): free space and continue with "
            f"`python -m nas.refit {args.experiment_dir} --resume`.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
