"""A Pareto search's answer, from a front made by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from reports.pareto import front_answer, hypervolume

# As reports.pareto.pareto makes it: by params, the metric at the highest rung each reached.
FRONT = pd.DataFrame(
    {
        "Name": ["small", "mid", "seed", "big", "short"],
        "params": [50_000, 100_000, 200_000, 400_000, 20_000],
        "val_acc_at_rung": [0.55, 0.61, 0.60, 0.70, 0.595],
        "on_front": [False, True, False, True, True],
        "rung": [9, 9, 9, 9, 3],  # "short" was stopped at epoch 3
    }
).sort_values("params")


def test_hypervolume_is_the_area_under_the_front_step_line():
    # The front as shares of 400k: short 0.05 (0.595), mid 0.25 (0.61), big 1.0 (0.70).
    assert hypervolume(FRONT) == pytest.approx(0.595 * 0.20 + 0.61 * 0.75 + 0.70 * 0.0)
    # As shares of a 500k budget, two searches of one space compare: 0.04, 0.2, 0.8 -> 1.
    within = 0.595 * 0.16 + 0.61 * 0.6 + 0.70 * 0.2
    assert hypervolume(FRONT, 500_000) == pytest.approx(within)
    assert front_answer(FRONT, None, 500_000)[0].endswith(
        f"hypervolume {within:.4f} (val_acc against parameters as a share of the budget, 500,000)."
    )


def test_front_answer_names_the_smallest_within_a_point_and_who_dominates_the_seed():
    seed = pd.Series({"Name": "seed"})
    lines = front_answer(FRONT, seed)
    assert lines[0].startswith(
        "The front: 3 of 5 networks no smaller one beats, 20,000 to 400,000 params, val_acc "
        "0.5950 to 0.7000 (each at the last rung it reached); hypervolume 0.5765"
    )
    # "short" is smaller and within a point, but scored at epoch 3, the seed preset at 9.
    assert lines[1] == (
        "Smallest network within 1 point of the seed preset after 9 epochs: mid, 100,000 params "
        "(50% of the seed preset's 200,000), val_acc 0.6100 vs 0.6000 (+1.00 points). "
        "One training seed each: the refit measures it."
    )
    assert lines[2] == (
        "Networks that dominate the seed preset (as accurate and smaller) after 9 epochs: mid "
        "(100,000 params, 0.6100). One training seed each: the refit (--front) measures them."
    )
    # Then the front itself, smallest first, each network against the seed preset.
    assert lines[3:] == [
        "  on the front: short, 20,000 params (10% of the seed preset's), val_acc 0.5950 after "
        "3 epochs",
        "  on the front: mid, 100,000 params (50% of the seed preset's), val_acc 0.6100 after "
        "9 epochs",
        "  on the front: big, 400,000 params (200% of the seed preset's), val_acc 0.7000 after "
        "9 epochs",
    ]
    # Without a seed preset's score: the front, no comparison; MACs where known.
    alone = front_answer(FRONT, None, macs={"mid": 2_500_000})
    assert alone[0] == lines[0] and len(alone) == 4
    assert alone[2] == (
        "  on the front: mid, 100,000 params, val_acc 0.6100 after 9 epochs, 2,500,000 MACs"
    )
