"""Resuming an experiment: what it was started with, and refusing when that has changed.

``run.json`` holds the options that shape the search and a fingerprint of the space's source.
``python -m nas.run --name X --resume`` takes every shaping option from there; one given again
on the command line must match, and the space must be the same code, or resume refuses with a
sentence that names what changed.
"""

from __future__ import annotations

import hashlib
import inspect
import sys

from search_spaces.base import SearchSpace

# run.json option -> the nas.run argument that sets it
SHAPING = {
    "space": "space",
    "num_samples": "num_samples",
    "max_epochs": "max_epochs",
    "grace_period": "grace_period",
    "reduction_factor": "reduction_factor",
    "min_rung_steps": "min_rung_steps",
    "searcher": "searcher",
    "seed": "seed",
    "seed_trial": "seed_trial",
    "val_fraction": "val_fraction",
    "train_limit": "train_images",
    "metric": "metric",
    "max_params": "max_params",
    "input_size": "input_size",
}


class ResumeRefused(Exception):
    """The experiment cannot be resumed as asked; the message says why and what to do."""


def space_fingerprint(space: SearchSpace) -> str:
    """A digest of the source of the module that defines ``space``."""
    source = inspect.getsource(sys.modules[space.sample.__module__])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def settings_to_resume(name: str, record: dict, given: dict) -> dict:
    """The shaping arguments recorded for ``name``; raises ResumeRefused if ``given`` differs.

    ``given`` maps argument names to what the command line said (None where it said nothing).
    """
    if not record.get("options"):
        raise ResumeRefused(
            f"experiment {name!r} has no run.json with its options (it predates them or is not "
            "an experiment folder): start a new --name."
        )
    options = record["options"]
    changed = []
    for option, arg in SHAPING.items():
        if given.get(arg) is not None and given[arg] != options.get(option):
            flag = "--" + arg.replace("_", "-")
            changed.append(f"{flag} (was {options.get(option)}, now {given[arg]})")
    if changed:
        raise ResumeRefused(
            f"experiment {name!r} was started with other settings: {', '.join(changed)}; "
            "resume without them or start a new --name."
        )
    return {arg: options.get(option) for option, arg in SHAPING.items()}


def check_space_unchanged(name: str, record: dict, space: SearchSpace) -> None:
    recorded = record.get("space_fingerprint")
    if recorded is not None and recorded != space_fingerprint(space):
        module = sys.modules[space.sample.__module__].__file__
        raise ResumeRefused(
            f"space {space.name} changed since experiment {name!r} started ({module} differs): "
            "restore that file or start a new --name."
        )
