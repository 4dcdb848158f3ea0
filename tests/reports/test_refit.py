"""``reports.refit``: the interval, the verdict against seed noise and Kendall's tau, on known
numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reports.refit import (
    PRESET,
    RefitTables,
    configuration_table,
    final_model,
    interval,
    kendall_tau,
    tau_sentence,
    verdict,
)


def test_interval_is_students_t_on_the_mean():
    mean, std, low, high = interval([0.70, 0.72, 0.74])
    assert (mean, std) == (pytest.approx(0.72), pytest.approx(0.02))
    # t(0.975, 2 degrees of freedom) = 4.3027
    assert (low, high) == (pytest.approx(0.72 - 0.049683, abs=1e-6), pytest.approx(0.769683))
    assert interval([0.5])[0] == 0.5 and math.isnan(interval([0.5])[2])


@pytest.mark.parametrize(
    ("gains", "start"),
    [
        (
            [1.0, 1.2, 0.9],
            "beats the seed preset (+1.03 points, 95% interval +0.65 to +1.41 over 3 seeds)",
        ),
        ([-1.0, -1.2, -0.9], "worse than the seed preset (-1.03 points"),
        ([2.0, -1.5, 0.4], "no clear difference from the seed preset (+0.30 points"),
        ([0.8], "+0.80 points on one seed: no measure of the noise"),
    ],
)
def test_verdict_against_the_seed_to_seed_noise(gains, start):
    assert verdict(gains).startswith(start)


def test_a_verdict_that_cannot_tell_says_how_many_seeds_would():
    """Both seeds lost by 8 to 11 points, yet 2 seeds' interval spans zero: the sentence says
    2 are too few, and the seeds whose interval would exclude zero at the spread seen."""
    assert verdict([-8.0, -11.0]) == (
        "no clear difference from the seed preset (-9.50 points, 95% interval -28.56 to +9.56 "
        "over 2 seeds): 2 seeds cannot tell a difference of this size from the seed-to-seed "
        "noise seen (2.12 points); about 3 would (nas.refit --seeds 3)."
    )
    assert verdict([-8.0, -11.0, -9.5]).startswith("worse than the seed preset")  # and 3 do
    assert verdict([0.01, -0.01]).endswith(
        "more than 100 seeds would be needed to tell a difference this small."
    )


def test_a_rank_correlation_over_too_few_configurations_says_so():
    assert tau_sentence(1.0, 2) == (
        "Kendall's tau +1.00 over 2 configurations: too few to tell whether the search's order "
        "held (5 or more could: nas.refit --top 4)"
    )
    assert tau_sentence(0.6, 6) == (
        "Kendall's tau +0.60 over 6 configurations (1: the search's order held, 0: unrelated)"
    )


def test_gains_are_paired_by_seed_and_ranks_correlate():
    rows = []
    for name, scores in {PRESET: [0.60, 0.70, 0.65], "top_1": [0.62, 0.715, 0.67]}.items():
        rows += [
            {"configuration": name, "seed": s, "State": "finished", "test_acc": v}
            for s, v in enumerate(scores)
        ]
    rows.append({"configuration": "top_2", "seed": 0, "State": "failed", "test_acc": 0.9})
    candidates = {
        name: {
            "search_rank": rank,
            "search_trial": None,
            "search_value": None,
            "params": 1,
            "macs": 1,
        }
        for name, rank in ((PRESET, 3), ("top_1", 1), ("top_2", 2))
    }
    table = configuration_table(pd.DataFrame(rows), candidates, "test_acc", "val_acc")
    top = table.set_index("configuration").loc["top_1"]
    # Paired: +2, +1.5, +2 points; unpaired, the seed-to-seed spread (5 points) would swamp it.
    assert top["gain"] == pytest.approx(11 / 6) and top["gain_low"] > 0
    assert top["verdict"].startswith("beats the seed preset")
    failed = table.set_index("configuration").loc["top_2"]
    assert failed["seeds"] == 0 and pd.isna(failed["refit_rank"])
    assert list(table["refit_rank"][:2]) == [2, 1]
    assert kendall_tau(table) == pytest.approx(1.0)  # search: top_1 above the preset; so refit


def test_an_accuracys_interval_stays_within_0_and_1():
    rows = [
        {"configuration": PRESET, "seed": s, "State": "finished", "test_acc": v}
        for s, v in enumerate([0.02, 0.30])  # 2 seeds far apart: t(0.975, 1) = 12.7
    ]
    candidate = {"search_rank": 1, "search_trial": None, "search_value": None}
    table = configuration_table(
        pd.DataFrame(rows), {PRESET: {**candidate, "params": 1, "macs": 1}}, "test_acc", "val_acc"
    )
    assert interval([0.02, 0.30])[2] < 0  # the t interval itself
    assert table.loc[0, "ci95_low"] == 0.0 and table.loc[0, "ci95_high"] == 1.0


def test_the_final_model_is_chosen_before_any_test_score():
    """The search's pick with the first refit seed that finished, though another configuration
    and another seed of the pick score higher on test: the test split only reports."""
    scores = {PRESET: [0.80, 0.81, 0.82], "top_1": [0.60, 0.65, 0.70], "top_2": [0.75, 0.7, 0.7]}
    rows = [
        {"Name": f"trial_{name}_seed{s}", "configuration": name, "seed": s, "test_acc": v}
        | {"State": "failed" if (name, s) == ("top_1", 5) else "finished"}
        for name, values in scores.items()
        for s, v in zip((5, 2, 9), values, strict=True)
    ]
    candidates = {
        name: {"search_rank": rank, "search_trial": None, "search_value": None}
        | {"params": 1, "macs": 1}
        for name, rank in ((PRESET, 3), ("top_1", 1), ("top_2", 2))
    }
    models = pd.DataFrame(rows)
    table = configuration_table(models, candidates, "test_acc", "val_acc")
    tables = RefitTables("test_acc", 10, [5, 2, 9], models, table, kendall_tau(table))
    final = final_model(tables)
    assert (final["Name"], final["test_acc"]) == ("trial_top_1_seed2", 0.65)
    nothing = models.assign(State="failed")
    assert final_model(RefitTables("test_acc", 10, [5, 2, 9], nothing, table, None)) is None
