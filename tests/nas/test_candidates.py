"""Which networks a front's refit trains: places spread evenly along the front, and the pick
fixed before any refit score."""

from __future__ import annotations

import dataclasses

import pytest

from driver.config import UsageError
from experiment.results import load_experiment
from nas.candidates import pick_front, spread
from reports.pareto import pareto
from reports.ranking import seed_trial
from reports.refit import PRESET
from search_spaces.cifar_lt200k import SPACE


@pytest.mark.parametrize(
    ("n", "k", "places"),
    [
        (7, 3, [0, 3, 6]),  # both ends and the middle
        (10, 4, [0, 3, 6, 9]),
        (5, 2, [0, 4]),
        (6, 1, [0]),  # one: the smallest network
        (3, 5, [0, 1, 2]),  # more asked than the front holds: all of it
        (4, 4, [0, 1, 2, 3]),
    ],
)
def test_spread_takes_both_ends_and_evenly_between(n, k, places):
    assert spread(n, k) == places


def test_pick_front_without_the_seed_presets_score_or_with_only_it(smoke_experiment):
    experiment = load_experiment(str(smoke_experiment[0]))
    preset = seed_trial(experiment)["Name"]
    candidates, pick, why = pick_front(experiment, SPACE, 2)
    assert candidates[0]["name"] == PRESET and candidates[0]["search_trial"] == preset
    front = pareto(experiment)
    assert {c["search_trial"] for c in candidates[1:]} <= set(front.loc[front["on_front"], "Name"])
    assert why in ("within", "none within") and (pick == PRESET) == (why == "none within")

    # The seed preset never scored: nothing to measure the front against, the preset is kept.
    trials = experiment.trials
    unscored = dataclasses.replace(experiment, trials=trials[trials["Name"] != preset])
    candidates, pick, why = pick_front(unscored, SPACE, 2)
    assert (pick, why, candidates[0]["search_trial"]) == (PRESET, "no score", None)

    # A front of the seed preset alone: one sentence naming the refit that does apply.
    alone = dataclasses.replace(experiment, trials=trials[trials["Name"] == preset])
    with pytest.raises(UsageError, match=r"holds no network besides the seed preset: .* --top N"):
        pick_front(alone, SPACE, 2)
