"""``--warm-start DIR``: the earlier experiments a new search begins from, read and checked.

Each folder must be an experiment of the same space with a study journal that Optuna reads; it
is only read, never written. Its trials become knowledge of the new study (``searchers.warm``);
``--warm-start-top K`` trains the K best of them first, after the seed preset.
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from driver.config import RunConfig, UsageError
from experiment import storage
from experiment.journal import REJECTION, load_study
from experiment.layout import STUDY
from experiment.record import RecordError, read_record
from search_spaces.base import Config, SearchSpace, is_preset
from searchers.warm import best_configs, knowledge


def earlier_knowledge(
    run: RunConfig, space: SearchSpace
) -> tuple[list[FrozenTrial], list[Config]]:
    """The trials of ``run.warm_start``'s experiments as the new study holds them, and the
    configurations to train first (``run.warm_start_top``; not the seed preset again). Raises
    UsageError with one sentence naming a folder that cannot be used."""
    carried: list[FrozenTrial] = []
    for folder in run.warm_start or []:
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        trials = earlier_trials(folder, space)
        carried += knowledge(trials, name, space, run.max_epochs, run.sizes)
    seed = space.preset("seed") if "seed" in space.presets else None
    top = best_configs(carried, space, (run.warm_start_top or 0) + 1)
    first = [c for c in top if seed is None or not is_preset(c, seed)]
    return carried, first[: run.warm_start_top or 0]


def earlier_trials(folder: str, space: SearchSpace) -> list[FrozenTrial]:
    """The trials of the study in experiment ``folder``, which must be a search of ``space``."""
    fix = "give the folder of an earlier nas.run experiment of that space"
    if not storage.exists(folder):
        raise UsageError(f"--warm-start {folder}: there is no such folder; {fix}.")
    try:
        record = read_record(folder)
    except RecordError as e:
        raise UsageError(f"--warm-start {folder}: its {e}; restore it, or {fix}.") from None
    if not record.get("options"):
        raise UsageError(f"--warm-start {folder} is not an experiment (no run.json); {fix}.")
    if record["options"].get("space") != space.name:
        raise UsageError(
            f"--warm-start {folder} searched space {record['options'].get('space')}, not "
            f"{space.name}: warm-start only from searches of the same space."
        )
    try:
        study = load_study(folder)
    except Exception:  # Optuna's reader of a damaged journal fails in many ways
        raise UsageError(
            f"--warm-start {folder}: its {STUDY} is damaged (Optuna cannot read it as one "
            "study); restore it from a copy, or leave that experiment out."
        ) from None
    if study is None:
        raise UsageError(
            f"--warm-start {folder} has no {STUDY} (a refit, or an experiment on a URI): {fix}."
        )
    return study.get_trials(deepcopy=False)


def warm_line(run: RunConfig, carried: list[FrozenTrial], first: list[Config]) -> str:
    """What the new search begins with, for the header."""
    rejected = sum(REJECTION in t.user_attrs for t in carried)
    finished = sum(t.state == TrialState.COMPLETE for t in carried) - rejected
    stopped = len(carried) - finished - rejected
    sources = ", ".join(w.rstrip("/").rsplit("/", 1)[-1] for w in run.warm_start or [])
    line = (
        f"Warm start from {sources}: the searcher begins with {len(carried) - rejected} earlier "
        f"trials ({finished} at epoch {run.max_epochs}, {stopped} before it) and {rejected} "
        "rejected candidates, knowledge from elsewhere: not trained here, not refit"
    )
    if first:
        line += f"; their {len(first)} best configuration(s) train first, after the seed preset"
    if other := other_settings(run):
        line += (
            f". Their scores come from other settings ({'; '.join(other)}) and may not "
            "compare with this search's, which TPE ranks them beside as they are (from other "
            "data, that held TPE back in bench/bursts.py; training their best first with "
            "--warm-start-top K did not)"
        )
    return line + "."


COMPARED = ("data_dir", "train_images", "val_fraction", "metric")  # what a score depends on


def other_settings(run: RunConfig) -> list[str]:
    """The settings an earlier experiment's scores were measured with that differ from
    ``run``'s (its epochs count as ``searchers.warm`` says), as "--flag X there"."""
    differ = []
    for folder in run.warm_start or []:
        options = read_record(folder)["options"]
        for key in COMPARED:
            if key in options and options[key] != getattr(run, key):
                differ.append(f"--{key.replace('_', '-')} {options[key]} in {folder}")
    return differ
