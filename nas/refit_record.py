"""``refit/refit.json``: what a refit trains, how, and for which search; written before any
model trains, extended on resume, checked against the command line and the search."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from driver.config import RunConfig, UsageError, space_named
from driver.resume import ResumeRefused
from experiment import storage
from experiment.layout import REFIT, REFIT_RECORD
from experiment.record import RecordError, now
from trainables.tasks import get_task

REFIT_KEYS = ("search", "score", "top", "seeds", "epochs", "candidates")  # refit.json's own
# The refit's settings: RunConfig's field -> refit.json's key and nas.refit's flag.
SETTINGS = {
    "refit_top": "top",
    "refit_front": "front",
    "refit_seeds": "seeds",
    "refit_epochs": "epochs",
}


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
    recorded = {"front": None, **earlier, "seeds": len(earlier["seeds"])}
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
