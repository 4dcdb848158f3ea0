"""The results table of an experiment, read from its folder alone (no Ray driver needed)."""

from __future__ import annotations

import json

import pandas as pd

from nas import storage


def epochs_table(experiment: str) -> pd.DataFrame:
    """Every reported epoch of every trial: one row per (trial, epoch), config keys prefixed."""
    rows = []
    for trial in storage.subfolders(experiment):
        result_file = storage.join(trial, "result.json")
        if not storage.exists(result_file):
            continue
        for line in storage.read_text(result_file).splitlines():
            if not line.strip():
                continue
            result = json.loads(line)
            config = result.pop("config", {})
            rows.append({**result, **{f"config/{k}": v for k, v in config.items()}})
    return pd.DataFrame(rows)


def trials_table(experiment: str) -> pd.DataFrame:
    """One row per trial: its config, last epoch's metrics, best val_acc and epochs trained."""
    epochs = epochs_table(experiment)
    if epochs.empty:
        return epochs
    epochs = epochs.sort_values(["trial_id", "training_iteration"])
    last = epochs.groupby("trial_id", sort=False).tail(1).set_index("trial_id")
    grouped = epochs.groupby("trial_id")
    last["best_val_acc"] = grouped["val_acc"].max()
    last["epochs"] = grouped["training_iteration"].max()
    return last.reset_index()
