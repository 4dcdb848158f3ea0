"""Resuming an experiment: what it was started with, and refusing when that has changed.

``run.json`` holds the options that shape the search and a fingerprint of the space's source.
``python -m nas.run --name X --resume`` takes every field of ``RunConfig`` that shapes the search
from there; one given again on the command line must match, and the space must be the same code,
or resume refuses with a sentence that names what changed.
"""

from __future__ import annotations

import hashlib
import inspect
import sys

from nas import storage
from nas.config import RunConfig
from search_spaces.base import SearchSpace

LEGACY_NAMES = {"train_limit": "train_images"}


ORPHANED = "orphaned"  # the folder, inside the experiment's, of trials Tune never recorded


class ResumeRefused(Exception):
    """The experiment cannot be resumed as asked; the message says why and what to do."""


def space_fingerprint(space: SearchSpace) -> str:
    """A digest of the source of the module that defines ``space``."""
    source = inspect.getsource(sys.modules[space.sample.__module__])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def resumed_config(name: str, record: dict, given: dict) -> RunConfig:
    """The config ``name`` was started with, the flags given now for what a resume may change.

    Raises ResumeRefused naming every flag given with a value other than the recorded one (a
    field older experiments did not record is taken as given).
    """
    if not record.get("options"):
        raise ResumeRefused(
            f"experiment {name!r} has no run.json with its options (it predates them or is not "
            "an experiment folder): start a new --name."
        )
    recorded = recorded_options(record["options"])
    changed = [
        f"--{key.replace('_', '-')} (was {recorded.get(key)}, now {given[key]})"
        for key in RunConfig.shaping()
        if given.get(key) is not None and key in recorded and given[key] != recorded[key]
    ]
    if changed:
        raise ResumeRefused(
            f"experiment {name!r} was started with other settings: {', '.join(changed)}; "
            "resume without them or start a new --name."
        )
    kept = {key: recorded.get(key) for key in RunConfig.shaping() if key in recorded}
    now = {"name", "data_dir", "storage"}
    others = {k: v for k, v in given.items() if k not in {*kept, *now} and v is not None}
    data_dir = given.get("data_dir") or recorded.get("data_dir") or "./data"
    return RunConfig(
        **{**kept, **others},
        name=name,
        data_dir=storage.resolve(data_dir),
        storage=storage.resolve(given.get("storage", RunConfig.storage)),
    )


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
    from reports.results import trial_folders, tune_snapshot

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
