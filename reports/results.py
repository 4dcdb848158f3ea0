"""The results table of an experiment, read from its folder alone (no Ray driver needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def epochs_table(experiment_dir: str | Path) -> pd.DataFrame:
    """Every reported epoch of every trial: one row per (trial, epoch), config keys prefixed."""
    rows = []
    for result_file in sorted(Path(experiment_dir).glob("*/result.json")):
        for line in result_file.read_text().splitlines():
            if not line.strip():
                continue
            result = json.loads(line)
            config = result.pop("config", {})
            rows.append({**result, **{f"config/{k}": v for k, v in config.items()}})
    return pd.DataFrame(rows)


def trials_table(experiment_dir: str | Path) -> pd.DataFrame:
    """One row per trial: its config, last epoch's metrics, best metric and epochs trained."""
    epochs = epochs_table(experiment_dir)
    if epochs.empty:
        return epochs
    epochs = epochs.sort_values(["trial_id", "training_iteration"])
    last = epochs.groupby("trial_id", sort=False).tail(1).set_index("trial_id")
    grouped = epochs.groupby("trial_id")
    last["best_val_acc"] = grouped["val_acc"].max()
    last["epochs"] = grouped["training_iteration"].max()
    return last.reset_index()
