from __future__ import annotations

import random

import pytest

from nas.samplers import FeasibleStartTPE, RegularizedEvolution, evaluated
from nas.searcher import FeasibleSearch
from search_spaces.cifar_lt200k import SEED, SPACE
from search_spaces.rules import check


def evolve(seed: int, count: int, max_epochs: int = 3, searcher=None) -> list[dict]:
    """Suggest ``count`` trials one after another, each reporting a made-up curve."""
    searcher = searcher or FeasibleSearch(
        SPACE,
        "evolution",
        seed=seed,
        max_epochs=max_epochs,
        num_samples=16,
        points_to_evaluate=[SEED],
    )
    rng = random.Random(seed)
    configs = []
    for i in range(count):
        trial_id = f"t{len(searcher.study.trials)}-{i}"
        configs.append(searcher.suggest(trial_id))
        epochs = rng.choice([1, max_epochs])
        for epoch in range(1, epochs + 1):
            result = {"val_acc": rng.random(), "training_iteration": epoch}
            searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)
    return configs


def knobs(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "seed"}


def test_evolution_starts_from_the_seed_preset_and_proposes_only_feasible_candidates():
    searcher = FeasibleSearch(
        SPACE, "evolution", seed=0, max_epochs=3, num_samples=16, points_to_evaluate=[SEED]
    )
    configs = evolve(0, 12, searcher=searcher)
    assert knobs(configs[0]) == SEED
    for config in configs:
        assert check(SPACE.decode(config)[0], SPACE.rules)[1] == []
    # The second candidate is drawn while only the seed preset has been evaluated: its child.
    second = next(t for t in searcher.study.trials if t.params == knobs(configs[1]))
    assert second.user_attrs["parent"] == 0


def test_each_child_changes_one_or_two_knobs_of_its_parent():
    searcher = FeasibleSearch(
        SPACE, "evolution", seed=4, max_epochs=3, num_samples=16, points_to_evaluate=[SEED]
    )
    evolve(4, 20, searcher=searcher)
    trials = searcher.study.trials
    children = [t for t in trials if "parent" in t.user_attrs]
    assert len(children) >= 19  # every trial but the seed preset, rejected draws included
    sizes = set()
    for child in children:
        parent = trials[child.user_attrs["parent"]]
        changed = {k for k in parent.params if k in child.params}
        changed = {k for k in changed if child.params[k] != parent.params[k]}
        assert changed == set(child.user_attrs["mutated"]), (parent.params, child.params)
        sizes.add(len(changed))
    assert sizes == {1, 2}


def test_evolution_is_reproducible_from_its_seed():
    assert evolve(3, 10) == evolve(3, 10)
    assert evolve(3, 10) != evolve(5, 10)


def test_evolution_continues_identically_after_a_save_and_restore(tmp_path):
    a = FeasibleSearch(SPACE, "evolution", seed=2, max_epochs=3, points_to_evaluate=[SEED])
    evolve(2, 6, searcher=a)
    a.save(str(tmp_path / "searcher.pkl"))
    b = FeasibleSearch(SPACE, "evolution", seed=99, max_epochs=3)
    b.restore(str(tmp_path / "searcher.pkl"))
    assert [t.number for t in evaluated(b.study)] == [t.number for t in evaluated(a.study)]
    assert evolve(2, 4, searcher=b) == evolve(2, 4, searcher=a)


def test_tournaments_compare_members_at_the_last_epoch_all_of_them_reached():
    import optuna

    study = optuna.create_study(direction="maximize")
    sampler = RegularizedEvolution(population=2, tournament=2, seed=0)
    for curve in ([0.2, 0.9], [0.5]):  # stopped at epoch 1 but ahead there
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        for step, value in enumerate(curve, start=1):
            trial.report(value, step)
        study.tell(trial, curve[-1])
    assert sampler._parent(study).number == 1


def test_tpe_start_up_counts_evaluated_candidates_not_rejected_ones():
    # A tight budget: most candidates are rejected, and Optuna's own start-up would count them.
    space = SPACE.for_run(max_params=60_000)
    tpe = FeasibleSearch(space, "tpe", seed=1, max_epochs=3, num_samples=12)
    rand = FeasibleSearch(space, "random", seed=1, max_epochs=3, num_samples=12)
    assert isinstance(tpe._sampler, FeasibleStartTPE) and tpe._sampler.startup == 3
    for i in range(3):
        assert tpe._sampler._starting(tpe.study)
        assert tpe.suggest(f"t{i}") == rand.suggest(f"t{i}")  # the random start-up, draw by draw
        for searcher in (tpe, rand):
            searcher.on_trial_result(f"t{i}", {"val_acc": 0.1 * i, "training_iteration": 1})
            searcher.on_trial_complete(f"t{i}", {"val_acc": 0.1 * i, "training_iteration": 3})
    assert tpe.rejected > 3  # more rejected candidates than the start-up's length
    assert not tpe._sampler._starting(tpe.study)  # now TPE models the three evaluated trials


def test_unknown_searcher_names_the_choices():
    with pytest.raises(ValueError, match="use one of evolution, tpe, random"):
        FeasibleSearch(SPACE, "optuna", seed=0)


def test_evolution_without_the_seed_preset_starts_from_random_candidates():
    searcher = FeasibleSearch(SPACE, "evolution", seed=6, max_epochs=3, num_samples=16)
    first = searcher.suggest("t0")
    assert knobs(first) != SEED and searcher.rejected > 0  # random draws, some rejected
    assert all("parent" not in t.user_attrs for t in searcher.study.trials)  # nothing to mutate
