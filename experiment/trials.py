"""The tables of an experiment's trials, from their logs: every reported epoch
(``epochs_table``, from each trial's ``result.json``), the rejected candidates
(``rejected.jsonl``), and one row per trial in a W&B runs-table layout (``trials_table``), with
the state the reports show (finished, stopped early by ASHA, failed, running, rejected)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from experiment import storage
from experiment.layout import (
    REJECTED_LOG,
    TRIAL_RESULTS,
)

FINISHED, STOPPED, REJECTED, FAILED, RUNNING = (
    "finished",
    "stopped early by ASHA",
    "rejected",
    "failed",
    "running",
)


METRICS = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "verify_acc",
    "verify_auc",  # pair layouts: ROC AUC and equal error rate (verify_acc is 1 - EER there)
    "verify_eer",
    "test_loss",  # a refit's models, scored once on the test split after their last epoch
    "test_acc",
    "lr",
    "epoch_seconds",
)


ARCHITECTURE = ("params", "macs", "receptive_field")


def epochs_table(location: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Every reported epoch of every trial: one row per (trial, epoch), config keys prefixed;
    and the lines that could not be read.

    A last line with no end is one being written, or one a kill cut short: left out, as the
    trial's restore does (``experiment.logs``). Any other line that is not a result is left out and
    named.
    """
    rows, configs, problems = [], [], []
    for trial in storage.subfolders(location):
        result_file = storage.join(trial, TRIAL_RESULTS)
        if not storage.exists(result_file):
            continue
        if not storage.is_file(result_file):
            problems.append(f"{result_file} is a folder, not a trial's results: the reports "
                            "leave that trial out; remove the folder")  # fmt: skip
            continue
        name = trial.rstrip("/").rsplit("/", 1)[-1]
        text = storage.read_bytes(result_file).decode(errors="replace")
        lines = text.splitlines()
        if lines and not text.endswith("\n"):
            lines.pop()
        for number, result in json_lines(lines):
            if not isinstance(result, dict) or "training_iteration" not in result:
                problems.append(
                    f"line {number} of {result_file} is not a Tune result: the reports leave "
                    "it out; restore the file, or delete that line"
                )
                continue
            config = result.pop("config", {})
            configs.append(config)
            rows.append({"Name": name, **result, **{f"config/{k}": v for k, v in config.items()}})
    table = pd.DataFrame(rows)
    if not table.empty:  # an epoch re-run after a SIGKILL raced its checkpoint: keep the latest
        table = table.drop_duplicates(["trial_id", "training_iteration"], keep="last")
    config_columns = [f"config/{k}" for k in merged_order(configs)]
    columns = [c for c in table.columns if c not in config_columns] + config_columns
    return table.reindex(columns=columns), tuple(problems)


def merged_order(configs: list[dict]) -> list[str]:
    """Keys of all configs, each placed after the key it follows where it first appears."""
    order: list[str] = []
    for config in configs:
        previous = None
        for key in config:
            if key not in order:
                order.insert(order.index(previous) + 1 if previous else len(order), key)
            previous = key
    return order


def json_lines(lines: list[str]) -> Iterator[tuple[int, Any]]:
    """(line number, the line's JSON value, None where it is not JSON) for each line that is not
    blank: a reader of a JSON-lines log judges the values and names the lines it leaves out."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            yield number, None


def rejected_candidates(location: str) -> tuple[list[dict], tuple[str, ...]]:
    """The rejected candidates of ``rejected.jsonl`` (a line each), and a sentence per line
    that is not one (a disk, a hand edit): the reports leave those out."""
    path = storage.join(location, REJECTED_LOG)
    if not storage.exists(path):
        return [], ()
    found, problems = [], []
    text = storage.read_bytes(path).decode(errors="replace")
    for number, entry in json_lines(text.splitlines()):
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("config"), dict)
            and isinstance(entry.get("reasons"), list)
            and "number" in entry
        ):
            found.append(entry)
        else:
            problems.append(
                f"line {number} of {path} is not a rejected candidate: the reports leave it "
                "out; restore the file, or delete that line"
            )
    return found, tuple(problems)


def trials_table(
    epochs: pd.DataFrame, statuses: dict[str, dict], rejected: list[dict], max_epochs: int
) -> pd.DataFrame:
    """One row per trial (and per rejected candidate) in a W&B runs-table layout.

    ``Name``, ``State``, ``Notes``, ``Created``, ``Runtime`` (s), ``config/<key>`` columns, then
    last and best of each metric, epochs trained, params, MACs, receptive field and seed.
    """
    rows = []
    seen = set()
    if not epochs.empty:
        epochs = epochs.sort_values(["trial_id", "training_iteration"])
        for trial_id, history in epochs.groupby("trial_id", sort=False):
            seen.add(trial_id)
            rows.append(_trial_row(history, statuses.get(trial_id, {}), max_epochs))
    for trial_id, status in statuses.items():  # started, but no epoch reported yet
        if trial_id not in seen:
            row = {"Name": status.get("folder") or f"trial_{trial_id}", "trial_id": trial_id}
            row |= _state(status, epochs=0, max_epochs=max_epochs)
            row["Created"] = _time(status.get("start_time"))
            row |= {f"config/{k}": v for k, v in status.get("config", {}).items()}
            rows.append(row)
    for entry in rejected:
        row = {"Name": f"rejected_{entry['number']}", "State": REJECTED}
        row["Notes"] = "; ".join(entry["reasons"])
        row |= {f"config/{k}": v for k, v in entry["config"].items()}
        row |= {k: entry[k] for k in ARCHITECTURE if k in entry}
        rows.append(row)
    first = ["Name", "State", "Notes", "Created", "Runtime"]
    table = pd.DataFrame(rows)
    if table.empty:  # no trial yet: the columns every reader looks up, no rows
        return pd.DataFrame(columns=first)
    configs = [{k: None for k in epochs.columns if k.startswith("config/")}]
    configs += [{f"config/{k}": None for k in entry["config"]} for entry in rejected]
    config = [c for c in merged_order(configs) if c != "config/seed"]
    summary = [c for c in table.columns if c not in first + config and c != "config/seed"]
    table["seed"] = table.get("config/seed")
    ordered = first + config + [c for c in summary if c != "seed"] + ["seed"]
    return table.reindex(columns=ordered).convert_dtypes()  # whole numbers print as such


def _trial_row(history: pd.DataFrame, status: dict, max_epochs: int) -> dict:
    last = history.iloc[-1]
    epochs = int(last["training_iteration"])
    first = history.iloc[0]
    created = status.get("start_time") or first["timestamp"] - first.get("time_this_iter_s", 0)
    row = {
        "Name": last["Name"],
        "trial_id": last["trial_id"],
        **_state(status, epochs, max_epochs),
        **_diverged(last),
        "Created": _time(created),
        "Runtime": round(float(last["time_total_s"]), 1),
        **{c: last[c] for c in history.columns if c.startswith("config/") and _present(last[c])},
        "epochs": epochs,
    }
    for metric in METRICS:
        if metric in history:
            row[metric] = last[metric]
            if metric.endswith("_acc"):
                row[f"best_{metric}"] = history[metric].max()
    row |= {k: int(last[k]) for k in ARCHITECTURE if k in history}
    return row


def _diverged(last: pd.Series) -> dict:
    """A trial that ended itself on a NaN loss (its last report carries ``failure``)."""
    failure = last.get("failure")
    if not isinstance(failure, str):
        return {}
    return {
        "State": FAILED,
        "Notes": f"{failure}: {last.get('failure_detail')}",
        "failure": failure,
    }


def _present(value) -> bool:
    return not (isinstance(value, float) and pd.isna(value))


def _state(status: dict, epochs: int, max_epochs: int) -> dict:
    state = _status_state(status, epochs, max_epochs)
    if lost := status.get("nodes_lost"):
        note = f"node lost {lost}x" + (
            "" if state["State"] == FAILED else ", went on from its checkpoint"
        )
        state["Notes"] = f"{state['Notes']}; {note}" if state["Notes"] else note
        state["nodes_lost"] = lost
    if over := status.get("started_over"):
        times = f" {over}x" if over > 1 else ""
        note = f"started over{times} (no checkpoint it could go on from)"
        state["Notes"] = f"{state['Notes']}; {note}" if state["Notes"] else note
    return state


def _status_state(status: dict, epochs: int, max_epochs: int) -> dict:
    recorded = status.get("status")
    # An error file beside a trial that Tune retried and that went on is history, not its state.
    if recorded == "ERROR" or (status.get("error") and recorded is None):
        line = status.get("error") or f"error after epoch {epochs}"
        if status.get("failures", 0) > 1:
            line += f" (failed {status['failures']} times)"
        typed = re.search(r"TrialFailure: (\w+): (.*)", line)
        if typed:  # raised by trainables.trial: "<kind>: <exception>"
            return {"State": FAILED, "Notes": f"{typed[1]}: {typed[2]}", "failure": typed[1]}
        kind = "node_lost" if status.get("nodes_lost") else "error"  # lost once too often
        return {"State": FAILED, "Notes": line, "failure": kind}
    if recorded in ("RUNNING", "PENDING", "PAUSED"):
        return {"State": RUNNING, "Notes": f"{epochs} epochs so far"}
    if epochs >= max_epochs > 0:
        return {"State": FINISHED, "Notes": ""}
    if recorded == "TERMINATED":
        return {"State": STOPPED, "Notes": f"stopped at epoch {epochs} of {max_epochs}"}
    # No status saved yet (a driver killed before its first snapshot): what the results show.
    return {"State": RUNNING, "Notes": f"{epochs} epochs so far; status not yet saved"}


def _time(seconds: float | None) -> str | None:
    if seconds is None or pd.isna(seconds):
        return None
    return (
        datetime.fromtimestamp(float(seconds), timezone.utc)
        .astimezone()
        .isoformat(timespec="seconds")
    )
