"""Tune's view of an experiment, read from its latest snapshot (``experiment_state-*.json``):
the trials it knows, their status, start time, error and retries."""

from __future__ import annotations

import json

from experiment import storage
from experiment.layout import (
    NODE_LOST,
    STARTED_OVER,
)


def tune_snapshot(location: str) -> dict | None:
    """Tune's latest ``experiment_state-*.json`` (None before its first); ValueError if it
    cannot be read."""
    states = [f for f in storage.files(location) if "/experiment_state-" in f]
    return json.loads(storage.read_text(sorted(states)[-1])) if states else None


def trial_folders(snapshot: dict) -> set[str]:
    """The folder of every trial a Tune snapshot knows."""
    return {json.loads(trial)["relative_logdir"] for trial, _ in snapshot.get("trial_data", [])}


def trial_statuses(location: str) -> dict[str, dict]:
    """Tune's last saved view of each trial: status, start time, error file, by trial id."""
    try:
        data = tune_snapshot(location) or {}
    except ValueError:  # caught mid-write by a running driver: use results alone
        return {}
    found = {}
    for trial_json, runtime_json in data.get("trial_data", []):
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        folder = trial.get("relative_logdir")
        error = None
        if runtime.get("error_filename") and folder:
            error = _last_line(storage.join(location, folder, runtime["error_filename"]))
        lost = storage.join(location, folder, NODE_LOST) if folder else None
        over = storage.join(location, folder, STARTED_OVER) if folder else None
        found[trial["trial_id"]] = {
            "status": trial.get("status"),
            "nodes_lost": _lines(lost) if lost and storage.exists(lost) else 0,
            "started_over": _lines(over) if over and storage.exists(over) else 0,
            "folder": folder,
            "config": trial.get("config", {}),
            "start_time": runtime.get("start_time"),
            "error": error,
            "failures": runtime.get("num_failures", 0),
        }
    return found


def _lines(path: str) -> int:
    return sum(1 for line in storage.read_text(path).splitlines() if line.strip())


def _last_line(path: str) -> str | None:
    """The exception line of a Tune error file, shortened for a table cell."""
    if not storage.exists(path):
        return None
    lines = [ln.strip() for ln in storage.read_text(path).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else None
