"""Resuming an experiment: what it was started with, and refusing when that has changed.

``run.json`` holds the options that shape the search and a fingerprint of the space's source.
``python -m nas.run --name X --resume`` takes every field of ``RunConfig`` that shapes the search
from there; one given again on the command line must match, and the space must be the same code,
or resume refuses with a sentence that names what changed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import io
import json
import pickle
import pickletools
import re
import sys
import types

from driver.config import RunConfig
from experiment import storage
from experiment.layout import ORPHANED, REJECTED_LOG, RUN_RECORD, STUDY, TORN, WHOLE_SNAPSHOT
from search_spaces.base import SearchSpace
from searchers.ray_compat import recount_generator, relocate_generator

LEGACY_NAMES = {"train_limit": "train_images"}


# Tune's snapshot files, one of each kind per driver session: experiment_state-<session>.json
# with the search generator's search_gen_state-<session>.json and the searcher's
# searcher-state-<session>.pkl (a search), or basic-variant-state-<session>.json (a refit).
SEARCH_KINDS = {"experiment_state", "search_gen_state", "searcher-state"}
REFIT_KINDS = {"experiment_state", "basic-variant-state"}
SNAPSHOT_FILE = re.compile(
    r"(?P<kind>[a-z_-]+)-(?P<session>\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)\.(json|pkl)"
)


# The classes that Tune's snapshots of earlier experiments (tuner.pkl, searcher-state-*.pkl)
# name by a module they have left: old module -> class -> the module it lives in now.
MOVED = {
    "nas.searcher": {"FeasibleSearch": "searchers.feasible"},
    "nas.samplers": {
        "FeasibleStartTPE": "searchers.tpe",
        "RegularizedEvolution": "searchers.evolution",
        "PriorGuided": "searchers.prior",
        "Belief": "searchers.prior",
    },
    "nas.rungs": {"FairASHA": "searchers.rungs"},
    "nas.progress": {"Progress": "driver.progress"},
    "nas.wandb_logs": {"WandbFromResults": "driver.wandb_logs"},
}


def earlier_module_names() -> None:
    """Let the snapshots of an experiment started before its classes moved load: each old
    module name Tune's unpickling asks for is, in this process, a module that finds those
    classes where they live now. Snapshots written after the resume name the new modules."""
    for old in MOVED:
        if old not in sys.modules:
            module = types.ModuleType(old, f"{old}'s classes in snapshots of earlier experiments")
            module.__getattr__ = functools.partial(moved_class, old)  # imported when asked for
            sys.modules[old] = module


def moved_class(old: str, name: str) -> type:
    if name not in MOVED[old]:
        raise AttributeError(f"module {old!r} had no class {name!r} that moved")
    return getattr(importlib.import_module(MOVED[old][name]), name)


class ResumeRefused(Exception):
    """The experiment cannot be resumed as asked; the message says why and what to do."""


def space_fingerprint(space: SearchSpace) -> str:
    """A digest of the source of the module that defines ``space``."""
    source = inspect.getsource(sys.modules[space.sample.__module__])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def resumed_config(name: str, record: dict, given: dict) -> RunConfig:
    """The config ``name`` was started with, the flags given now for what a resume may change.

    Raises ResumeRefused naming every flag given with a value other than the recorded one (a
    field older experiments did not record is taken as given). The recorded ones are those the
    user gave (run.json's ``options``, or ``asked`` where ``options`` held the derived ones;
    the oldest experiments kept only the derived ones): a first rung the driver moved is derived
    again, and repeating the user's own ``--grace-period`` is no change.
    """
    if not record.get("options"):
        raise ResumeRefused(
            f"experiment {name!r} has no run.json with its options (it predates them or is not "
            "an experiment folder): start a new --name."
        )
    recorded = recorded_options(record.get("asked") or record["options"])
    grown = grown_samples(name, recorded.get("num_samples"), given.get("num_samples"))
    epochs, planned = given.get("max_epochs"), recorded.get("max_epochs")
    if None not in (epochs, planned) and epochs != planned:
        raise ResumeRefused(
            f"experiment {name!r} trains each trial for up to {planned} epochs, and a resume "
            f"cannot change that (got --max-epochs {epochs}; growing it is not built: its "
            "finished trials would have to go on from their last checkpoints): resume without "
            "--max-epochs, or start a new --name with --warm-start to begin from what this "
            "search learnt."
        )
    changed = [
        f"--{key.replace('_', '-')} (was {recorded.get(key)}, now {given[key]})"
        for key in RunConfig.shaping()
        if given.get(key) is not None and key in recorded and given[key] != recorded[key]
        and key != "num_samples"
    ]  # fmt: skip
    if changed:
        raise ResumeRefused(
            f"experiment {name!r} was started with other settings: {', '.join(changed)}; "
            "resume without them (of these, only a larger --num-samples may be given: it grows "
            "the search) or start a new --name."
        )
    kept = {key: recorded.get(key) for key in RunConfig.shaping() if key in recorded}
    kept["num_samples"] = grown or kept.get("num_samples")
    now = {"name", "data_dir", "storage"}
    others = {k: v for k, v in given.items() if k not in {*kept, *now} and v is not None}
    data_dir = given.get("data_dir") or recorded.get("data_dir") or "./data"
    try:
        return RunConfig(
            **{**kept, **others},
            name=name,
            data_dir=storage.resolve(data_dir),
            storage=storage.resolve(given.get("storage", RunConfig.storage)),
        )
    except (TypeError, ValueError) as e:  # a hand edit: "lots" of samples
        raise ResumeRefused(
            f"experiment {name!r} has options in its run.json that cannot be used ({e}): "
            "restore run.json, or start a new --name."
        ) from None


def grown_samples(name: str, recorded: int | None, given: int | None) -> int | None:
    """The trials a resume asks the search to hold in all: ``given`` where it grows the
    search (more than ``recorded``), None where it asks for nothing new; ResumeRefused where it
    asks for fewer."""
    if given is None or not isinstance(recorded, int) or given == recorded:
        return None  # nothing new asked; a hand-edited count is refused with the others
    if given < recorded:
        raise ResumeRefused(
            f"experiment {name!r} was planned with --num-samples {recorded}: a resume may grow a "
            f"search, not shrink it (got {given}); resume without --num-samples, or with more "
            f"than {recorded} to add trials."
        )
    return given


def recorded_options(options: dict) -> dict:
    """run.json's options under today's field names (older experiments used a few others)."""
    options = {LEGACY_NAMES.get(k, k): v for k, v in options.items()}
    if options.get("searcher") == "optuna":
        options["searcher"] = "tpe"
    return options


def check_space_unchanged(
    name: str,
    record: dict,
    space: SearchSpace,
    fix: str = "restore that file or start a new --name",
) -> None:
    """Raise ResumeRefused where the space's source differs from the one ``name`` started with
    (``fix``: what the user can do)."""
    recorded = record.get("space_fingerprint")
    if recorded is not None and recorded != space_fingerprint(space):
        module = sys.modules[space.sample.__module__].__file__
        raise ResumeRefused(
            f"space {space.name} changed since experiment {name!r} started ({module} differs): "
            f"{fix}."
        )


def set_aside_orphans(experiment: str) -> list[str]:
    """Move the trial folders Tune's last snapshot does not know into ``orphaned/``.

    A driver killed between two snapshots (Tune saves one every 10 s or so) may have started
    trials since the last one: resumed, Tune and the searcher (saved with the snapshot) know
    nothing of them, and the searcher proposes those trials again. Left in place, their folders
    would count as extra trials. Returns the folders moved (none if the snapshot is unreadable).
    """
    from experiment.snapshot import trial_folders, tune_snapshot

    try:
        known = trial_folders(tune_snapshot(experiment) or {})
    except ValueError:
        return []
    moved = []
    for folder in storage.subfolders(experiment):
        name = folder.rsplit("/", 1)[-1]
        if name.startswith("trial_") and name not in known:
            storage.move(folder, storage.join(experiment, ORPHANED, name))
            moved.append(name)
    return moved


def set_aside_torn_snapshots(experiment: str, num_samples: int) -> list[str]:
    """Resume from the newest whole Tune snapshot: move the snapshot files of newer driver
    sessions into ``orphaned/torn snapshots/`` (returns their names) and make the search
    generator's count of trials agree with the snapshot's trials.

    Tune saves each snapshot (the trials; the search generator's count of trials made; the
    searcher) in a local staging folder and copies every file to the experiment folder in the
    background, several at a time, each session's files anew each time. On resume it takes each
    kind of file from the newest session that has one. A driver killed during that copy can leave
    a session's files missing, cut short, or from two different snapshots: resumed, the search
    believed it had made trials Tune had no record of and ended short of --num-samples. A
    session's snapshot is whole when every kind of file is there and complete and the searcher
    made as many trials as the trial list holds; the generator's count, a plain number kept for
    Tune's own bookkeeping, is set to that list's length, and the trials it may make to
    ``num_samples`` (more than the snapshot's where the search grows).
    """
    mend_from_copy(experiment)
    sessions: dict[str, dict[str, str]] = {}  # session -> kind -> location
    for location in storage.files(experiment):
        if match := SNAPSHOT_FILE.fullmatch(location.rsplit("/", 1)[-1]):
            sessions.setdefault(match["session"], {})[match["kind"]] = location
    seen = set().union(*sessions.values()) if sessions else set()
    kinds = SEARCH_KINDS if seen & (SEARCH_KINDS - REFIT_KINDS) else REFIT_KINDS
    newer: list[str] = []
    for session in sorted(sessions, reverse=True):
        files = sessions[session]
        if set(files) == kinds and all(map(whole, files.values())):
            trials = trials_in(files)
            if agrees(files, trials):
                count_trials(files, trials, num_samples, experiment)
                relocate(files, experiment)
                keep_a_copy(experiment, files)
                break
        newer.extend(files.values())
    for location in newer:
        storage.move(location, storage.join(experiment, ORPHANED, TORN, location.rsplit("/")[-1]))
    return sorted(location.rsplit("/", 1)[-1] for location in newer)


def keep_a_copy(experiment: str, files: dict[str, str]) -> None:
    """Copy the snapshot a resume starts from into ``WHOLE_SNAPSHOT``, where Tune never writes:
    after a resume Tune uploads every snapshot file it found at the folder's top level again
    with each new snapshot, so a kill in one of those uploads can leave every session's files
    cut short, the whole one's too. Each file is written whole; the copy's older files go
    after the new ones are in."""
    copy = storage.join(experiment, WHOLE_SNAPSHOT)
    names = {location.rsplit("/", 1)[-1]: location for location in files.values()}
    if storage.exists(record := storage.join(experiment, RUN_RECORD)):  # not a refit's
        names[RUN_RECORD] = record  # Tune uploads it with them, as it was at the resume
    for name, location in names.items():
        storage.write_bytes(storage.join(copy, name), storage.read_bytes(location))
    for location in storage.files(copy):
        if location.rsplit("/", 1)[-1] not in names:
            storage.delete(location)


def mend_from_copy(experiment: str, only: str | None = None) -> None:
    """Put back, from ``WHOLE_SNAPSHOT``, each snapshot file (and run.json) a kill left missing
    or cut short at the folder's top level; ``only``: that file alone (run.json, before a
    resume reads it)."""
    for location in storage.files(storage.join(experiment, WHOLE_SNAPSHOT)):
        name = location.rsplit("/", 1)[-1]
        if only not in (None, name):
            continue
        top = storage.join(experiment, name)
        if not storage.exists(top) or not whole(top):
            storage.write_bytes(top, storage.read_bytes(location))


def agrees(files: dict[str, str], trials: list[dict]) -> bool:
    """Whether a session's searcher (where it keeps the count) made as many trials as its
    trial list holds."""
    if "searcher-state" not in files:
        return True
    state = pickle.loads(storage.read_bytes(files["searcher-state"]))  # Tune loads it anyway
    made = state.get("suggested") if isinstance(state, dict) else None
    return made is None or made == len(trials)


def relocate(files: dict[str, str], experiment: str) -> None:
    """Point the searcher's snapshot at the study journal and rejection log of ``experiment``,
    where it is now: a folder moved or copied since keeps writing its own files, not the old
    location's."""
    if "searcher-state" not in files:
        return
    state = pickle.loads(storage.read_bytes(files["searcher-state"]))  # Tune loads it anyway
    if not isinstance(state, dict):
        return
    files_here = {"journal": STUDY, "rejected_log": REJECTED_LOG}  # None stays None (a URI)
    here = {k: state.get(k) and storage.join(experiment, n) for k, n in files_here.items()}
    if any(state.get(key) != path for key, path in here.items()):
        storage.write_bytes(files["searcher-state"], pickle.dumps({**state, **here}))


def count_trials(
    files: dict[str, str], trials: list[dict], num_samples: int, experiment: str
) -> None:
    """Make the search generator's state agree with the snapshot's trials and the run: its
    count of trials made is their number, of trials to make ``num_samples``, the trials its
    concurrency limit waits for are those unfinished, and the trials it makes go into
    ``experiment`` where it is now."""
    if "search_gen_state" not in files:
        return
    import ray.cloudpickle as cloudpickle  # as Tune writes and reads it

    state = cloudpickle.loads(storage.read_bytes(files["search_gen_state"]))
    unfinished = {t["trial_id"] for t in trials if t["status"] not in ("TERMINATED", "ERROR")}
    root, name = storage.fs_path(experiment).rsplit("/", 1)
    recounted = recount_generator(state, len(trials), unfinished, num_samples)
    if relocate_generator(state, root, name) or recounted:
        storage.write_bytes(files["search_gen_state"], cloudpickle.dumps(state))


def trials_in(files: dict[str, str]) -> list[dict]:
    """The trials of a session's snapshot (Tune's JSON of each)."""
    snapshot = json.loads(storage.read_bytes(files["experiment_state"]))
    return [json.loads(trial) for trial, _ in snapshot["trial_data"]]


def torn_sentence(names: list[str]) -> str:
    return (
        f"Set aside {len(names)} snapshot file(s) a kill left incomplete, in {ORPHANED}/{TORN}/ "
        f"({', '.join(names)}): resuming from the last whole snapshot."
    )


def whole(location: str) -> bool:
    """Whether a snapshot file was written to its end: JSON that parses, or a pickle whose
    opcodes run to STOP (read, not executed)."""
    data = storage.read_bytes(location)
    try:
        if not data.startswith(b"\x80"):  # a pickle's PROTO opcode; Tune's JSON starts "{"
            json.loads(data)
        else:
            for _ in pickletools.genops(io.BytesIO(data)):
                pass
    except ValueError:  # JSONDecodeError, or a pickle cut short ("at end of data" and kin)
        return False
    return True
