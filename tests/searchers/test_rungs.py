from __future__ import annotations

import json
from types import SimpleNamespace

import pyarrow.fs as pafs
import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from search_spaces.base import is_preset
from search_spaces.cifar_lt200k import SEED
from searchers.rungs import FairASHA, ParetoASHA, first_rung

STOP, CONTINUE = TrialScheduler.STOP, TrialScheduler.CONTINUE


def scheduler(grace: int, max_t: int = 9, baseline=None, plain: bool = False) -> ASHAScheduler:
    """FairASHA, or Ray's own ASHA with ``plain``."""
    kwargs = {"time_attr": "training_iteration", "max_t": max_t, "grace_period": grace}
    if plain:
        asha = ASHAScheduler(reduction_factor=3, **kwargs)
    else:
        asha = FairASHA(reduction_factor=3, baseline=baseline, **kwargs)
    asha.set_search_properties("val_acc", "max")
    return asha


def run(asha: ASHAScheduler, curves: dict[str, list[float]], configs: dict | None = None) -> dict:
    """Feed each trial's curve epoch by epoch, trials in turn; the epoch each was stopped at
    before the end of its curve."""
    trials = {
        name: SimpleNamespace(trial_id=name, config=(configs or {}).get(name, {}))
        for name in curves
    }
    for trial in trials.values():
        asha.on_trial_add(None, trial)
    stopped = {}
    for epoch in range(1, max(len(c) for c in curves.values()) + 1):
        for name, curve in curves.items():
            if name in stopped or epoch > len(curve):
                continue
            result = {"training_iteration": epoch, "val_acc": curve[epoch - 1]}
            if asha.on_trial_result(None, trials[name], result) == STOP:
                asha.on_trial_complete(None, trials[name], result)
                if epoch < len(curve):
                    stopped[name] = epoch
    return stopped


def test_the_seed_preset_is_never_stopped_early():
    seed_config = {**SEED, "seed": 1234}
    curves = {
        "a": [0.30, 0.40, 0.50, 0.55, 0.60, 0.62, 0.64, 0.65, 0.66],
        "b": [0.25, 0.35, 0.45, 0.50, 0.55, 0.58, 0.60, 0.61, 0.62],
        "seed": [0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50],  # worst at every rung
        "c": [0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45],
    }
    configs = {"seed": seed_config, "c": {**SEED, "lr": 0.1, "seed": 1}}
    stopped = run(scheduler(grace=1, baseline=SEED), curves, configs)
    assert "seed" not in stopped  # ran all 9 epochs although it ranked below the cutoff
    assert stopped["c"] == 1  # the same curve without the seed preset's config is stopped
    assert run(scheduler(grace=1, plain=True), curves, configs)["seed"] == 1  # Ray's ASHA does
    assert is_preset(seed_config, SEED) and not is_preset(configs["c"], SEED)


def test_the_first_rung_waits_for_the_largest_batch_to_take_its_steps():
    # 2,000 images: 8 steps per epoch at batch 256, so 100 steps take 13 epochs.
    assert first_rung(1, 30, 100, 2_000, (64, 128, 256)) == 13
    assert first_rung(1, 9, 100, 2_000, (64, 128, 256)) == 9  # past the end: nothing stopped
    assert first_rung(3, 30, 100, 45_000, (64, 128, 256)) == 3  # full CIFAR: 176 steps/epoch
    assert first_rung(1, 30, 0, 2_000, (64, 128, 256)) == 1  # the rule switched off


def test_the_rung_rule_treats_two_batch_sizes_fairly():
    """Batch 64 takes twice the steps per epoch of batch 128, so it leads after one epoch; the
    batch-128 network is better once both have taken enough steps. With 640 images (10 steps per
    epoch at 64, 5 at 128) and a minimum of 10 steps, the first rung moves from epoch 1 to 2."""
    curves = {
        "bs64-a": [0.30, 0.34, 0.37, 0.39, 0.40, 0.41],
        "bs64-b": [0.28, 0.33, 0.36, 0.38, 0.39, 0.40],
        "bs128": [0.15, 0.36, 0.42, 0.46, 0.48, 0.50],  # slow start, best network
    }
    plain = first_rung(1, 6, 0, 640, (64, 128))
    fair = first_rung(1, 6, 10, 640, (64, 128))
    assert (plain, fair) == (1, 2)
    assert run(scheduler(grace=plain, max_t=6), curves)["bs128"] == 1
    assert "bs128" not in run(scheduler(grace=fair, max_t=6), curves)


@pytest.mark.parametrize(("rule", "survives"), [("best so far", True), ("last value", False)])
def test_a_warm_restart_just_before_a_rung_does_not_count_against_a_trial(rule, survives):
    curves = {
        "steady-a": [0.30, 0.38, 0.42, 0.44],
        "steady-b": [0.29, 0.37, 0.41, 0.43],
        "restarted": [0.35, 0.45, 0.33, 0.50],  # its cycle restarted in epoch 3 (the rung)
    }
    asha = scheduler(grace=3, max_t=4, plain=rule == "last value")
    assert ("restarted" not in run(asha, curves)) == survives


def pareto_asha(baseline=None) -> ParetoASHA:
    return ParetoASHA(
        "val_acc", "max", ("params",), max_t=9, grace_period=1, reduction_factor=3,
        baseline=baseline,
    )  # fmt: skip


def arrive(asha: ParetoASHA, trials: dict[str, tuple[float, int]], configs=None) -> set[str]:
    """Each trial reports (val_acc, params) at epoch 1, in turn; the ones stopped there."""
    stopped = set()
    for name, (acc, params) in trials.items():
        trial = SimpleNamespace(trial_id=name, config=(configs or {}).get(name, {}))
        asha.on_trial_add(None, trial)
        result = {"training_iteration": 1, "val_acc": acc, "params": params}
        if asha.on_trial_result(None, trial, result) == STOP:
            stopped.add(name)
    return stopped


def test_pareto_asha_keeps_a_spread_front_and_stops_the_dominated():
    asha = pareto_asha()
    assert asha.rungs == [1, 3]
    trials = {
        "a": (0.50, 100_000),  # alone at the rung: goes on
        "b": (0.40, 150_000),  # dominated by a
        "c": (0.60, 190_000),  # the most accurate: an end of the front
        "d": (0.30, 20_000),  # the smallest: the other end, goes on whatever its score
        "e": (0.55, 120_000),  # on the front, but crowded between a and c, with 2 of 5 kept
        "f": (0.20, 25_000),  # dominated by d
    }
    assert arrive(asha, trials) == {"b", "e", "f"}
    assert asha.debug_string() == "ParetoASHA: rungs [1, 3], 3 stopped"
    # A trial goes on at epoch 2 (no rung) whatever it scores.
    trial = SimpleNamespace(trial_id="b", config={})
    assert asha.on_trial_result(None, trial, {"training_iteration": 2, "val_acc": 0.0}) == CONTINUE


def test_pareto_asha_never_stops_the_seed_preset():
    trials = {"a": (0.5, 100_000), "seed": (0.1, 197_392)}
    configs = {"seed": {**SEED, "seed": 7}}
    assert arrive(pareto_asha(baseline=SEED), trials, configs) == set()
    assert arrive(pareto_asha(), trials, configs) == {"seed"}


def test_pareto_asha_records_a_trial_at_a_rung_with_its_best_so_far():
    asha = pareto_asha()
    trial = SimpleNamespace(trial_id="restarted", config={})
    asha.on_trial_add(None, trial)
    for epoch, acc in enumerate([0.30, 0.45, 0.33], start=1):  # a warm restart in epoch 3
        asha.on_trial_result(
            None, trial, {"training_iteration": epoch, "val_acc": acc, "params": 9}
        )
    assert asha.recorded[3]["restarted"] == (-0.45, 9.0)  # the rung at epoch 3: its best, 0.45


def restored(tmp_path, name: str, curve: list[float], status="TERMINATED", params=9):
    """A trial as Tune restores it from a snapshot: its results logged in its folder."""
    folder = tmp_path / name
    folder.mkdir()
    rows = [
        {"training_iteration": epoch, "val_acc": acc, "params": params}
        for epoch, acc in enumerate(curve, start=1)
    ]
    (folder / "result.json").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return SimpleNamespace(
        trial_id=name,
        config={},
        status=status,
        last_result=rows[-1],
        path=str(folder),
        storage=SimpleNamespace(storage_filesystem=pafs.LocalFileSystem()),
    )


@pytest.mark.parametrize("replayed", [True, False])
def test_a_resumed_search_compares_a_new_trial_with_the_earlier_ones_at_their_rungs(
    tmp_path, replayed
):
    """Tune restores the earlier trials into a scheduler with empty rungs: each enters the
    rungs it reached with its logged results, so a new trial that ranks below them is stopped
    at the first rung, as it would have been had the driver never stopped."""
    asha = scheduler(grace=1)
    earlier = {"a": [0.50, 0.60, 0.70], "b": [0.45, 0.55, 0.40], "c": [0.40]}
    for name, curve in earlier.items():
        trial = restored(tmp_path, name, curve, status="PENDING" if name == "a" else "TERMINATED")
        if replayed:
            asha.on_trial_add(None, trial)
    new = SimpleNamespace(trial_id="new", config={})
    asha.on_trial_add(None, new)
    result = {"training_iteration": 1, "val_acc": 0.42}
    assert asha.on_trial_result(None, new, result) == (STOP if replayed else CONTINUE)
    if replayed:  # b enters the rung at epoch 3 with its best so far; a goes on from there
        assert asha.on_trial_result(None, new, {"training_iteration": 3, "val_acc": 0.56}) == STOP
        assert asha._best == {"a": 0.70, "new": 0.56}  # the ended trials are let go


def test_a_resumed_pareto_search_ranks_a_new_trial_with_the_earlier_ones(tmp_path):
    asha = pareto_asha()
    asha.on_trial_add(None, restored(tmp_path, "small", [0.50], params=20_000))
    asha.on_trial_add(None, restored(tmp_path, "large", [0.60], params=190_000))
    assert asha.recorded[1] == {"small": (-0.50, 20_000.0), "large": (-0.60, 190_000.0)}
    assert arrive(asha, {"dominated": (0.40, 100_000)}) == {"dominated"}
    assert arrive(pareto_asha(), {"dominated": (0.40, 100_000)}) == set()  # alone at the rung
