"""The search's Optuna study in its journal file (``STUDY``): opened (``journal_storage``,
``load_study``) and mended before a resume opens it (``mend``).

Optuna's journal is one JSON operation a line. A kill mid-append leaves a last line without its
newline, which the next append would run into; a bad disk leaves a garbage line anywhere. Optuna
stops at the first undecodable line with a traceback, so a resume would train nothing or lose
the study. Here such lines are left out (the damaged file is kept beside, nothing is lost), and
where a left-out line created a trial, a bare trial takes its place so that every later line
still names the trial it was written for; the searcher's settling then fails any such trial that
Tune does not know (``searchers.feasible``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from experiment import storage
from experiment.layout import STUDY

CREATE_TRIAL, DISCARD_TRIALS = 4, 10  # Optuna's JournalOperation codes


def mend(experiment: str) -> str | None:
    """Leave the damaged lines out of the experiment's journal; the line that says so, or
    None where the journal is whole (or there is none: a refit, an object store)."""
    path = Path(experiment) / STUDY
    if storage.is_uri(experiment) or not path.is_file():
        return None
    text = path.read_bytes()
    lines = text.split(b"\n")
    cut = lines.pop() != b""  # the last piece has no newline: a write a kill cut short
    kept: list[dict] = []
    bad: list[int] = []
    created = 0
    for number, line in enumerate(lines, start=1):
        op = operation(line)
        if op is None:
            bad.append(number)
            continue
        if op["op_code"] == DISCARD_TRIALS:
            created = -1  # numbering is Optuna's own from here; nothing to fill in
        trial = op.get("trial_id")
        while bad and created >= 0 and isinstance(trial, int) and trial >= created:
            bare = {"op_code": CREATE_TRIAL, "study_id": 0, "datetime_start": None}
            kept.append({"worker_id": op.get("worker_id"), **bare})  # the journal's one study
            created += 1
        created += op["op_code"] == CREATE_TRIAL and created >= 0
        kept.append(op)
    if not bad and not cut:
        return None
    damaged = path.with_name(f"{STUDY}.damaged")
    os.replace(path, damaged)
    mended = path.with_name(f"{STUDY}.mending")
    mended.write_text("".join(json.dumps(op, separators=(",", ":")) + "\n" for op in kept))
    os.replace(mended, path)
    said = [f"line {', '.join(map(str, bad))} (not an operation)"] if bad else []
    said += ["the last line (cut short by a kill)"] if cut else []
    return f"{path}: left out {' and '.join(said)}; the damaged file is kept as {damaged.name}."


def garbled(experiment: str) -> list[int]:
    """The numbers of the journal's lines that are not Optuna operations (a last line a kill
    cut short aside); none where it has no journal."""
    path = Path(experiment) / STUDY
    if storage.is_uri(experiment) or not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")[:-1]  # the last piece: empty, or cut short
    return [number for number, line in enumerate(lines, start=1) if operation(line) is None]


def operation(line: bytes) -> dict | None:
    """One journal line as Optuna's operation, or None where it is not one."""
    try:
        op = json.loads(line.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return op if isinstance(op, dict) and isinstance(op.get("op_code"), int) else None


REJECTION = "rejected"  # the user attribute of a rejected candidate's trial in that study


TUNE_TRIAL_ID = "tune_trial_id"  # the user attribute naming a started trial's Tune trial
# The user attribute holding a trial's metric by epoch ({"1": 0.31, ...}) in a multi-objective
# study, where Optuna refuses intermediate values: optuna-dashboard shows it under the trial.
EPOCHS = "epochs"


def epochs(trial: optuna.trial.FrozenTrial) -> dict[int, float]:
    """A trial's metric by epoch: its intermediate values, or in a multi-objective study its
    ``EPOCHS`` user attribute."""
    logged = trial.user_attrs.get(EPOCHS) or {}
    return trial.intermediate_values or {int(step): value for step, value in logged.items()}


def journal_storage(path: str) -> JournalStorage:
    """Optuna's journal file storage at the local ``path``."""
    return JournalStorage(JournalFileBackend(path))


def load_study(location: str) -> optuna.Study | None:
    """The search's Optuna study from its journal (``STUDY``); None where there is none (a
    refit, an experiment on a URI, one made before the study was kept)."""
    path = storage.join(location, STUDY)
    if storage.is_uri(path) or not storage.exists(path):
        return None
    journal = journal_storage(path)
    (name,) = optuna.get_all_study_names(journal)  # one study, named after the experiment
    return optuna.load_study(study_name=name, storage=journal)
