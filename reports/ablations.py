"""``ablations.csv``: one row per trial, laid out like a W&B runs-table export, best first."""

from __future__ import annotations

import pandas as pd

# Result columns whose names a config key may also use get a clear name of their own.
RENAMED = {"lr": "final_lr", "trial_id": None}
W_AND_B = ["Name", "State", "Notes", "Created", "Runtime"]
ANSWER = ["is_seed_preset", "test_acc"]


def ablation_table(trials: pd.DataFrame) -> pd.DataFrame:
    """``Name, State, Notes, Created, Runtime``, the config keys, then the summary metrics."""
    table = trials.drop(columns=[c for c, new in RENAMED.items() if new is None], errors="ignore")
    table = table.rename(columns={c: new for c, new in RENAMED.items() if new})
    return table.rename(columns=lambda c: c.removeprefix("config/"))


def search_ablations(
    trials: pd.DataFrame, ranked: list[str], seed: str | None, scores: dict[str, float]
) -> pd.DataFrame:
    """The search's ``ablation_table`` with the answer's two columns after the W&B ones:
    ``is_seed_preset`` (the trial ``seed`` names) and ``test_acc`` (``scores``, by trial id:
    where nas.run measured it). Rows in the search's ranking (``ranked``: trial names, best
    first), the rest after as they came."""

    def column(name: str) -> pd.Series:
        return trials[name] if name in trials else pd.Series(index=trials.index, dtype=object)

    names, rank = column("Name"), {name: i for i, name in enumerate(ranked)}
    marked = [name == seed for name in names]  # plain bools, also without a seed trial
    table = trials.assign(is_seed_preset=marked, test_acc=column("trial_id").map(scores))
    table = ablation_table(table.iloc[names.map(rank).fillna(len(rank)).argsort(kind="stable")])
    first = [c for c in W_AND_B if c in table] + ANSWER
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)
