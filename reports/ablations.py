"""``ablations.csv``: one row per trial, laid out like a W&B runs-table export."""

from __future__ import annotations

import pandas as pd

# Result columns whose names a config key may also use get a clear name of their own.
RENAMED = {"lr": "final_lr", "trial_id": None}


def ablation_table(trials: pd.DataFrame) -> pd.DataFrame:
    """``Name, State, Notes, Created, Runtime``, the config keys, then the summary metrics."""
    table = trials.drop(columns=[c for c, new in RENAMED.items() if new is None], errors="ignore")
    table = table.rename(columns={c: new for c, new in RENAMED.items() if new})
    return table.rename(columns=lambda c: c.removeprefix("config/"))
