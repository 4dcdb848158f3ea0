from __future__ import annotations

import itertools
import json
import random

import pytest

from search_spaces.cifar_lt200k import SEED, SPACE
from search_spaces.rules import check
from searchers.base import evaluated, kind_of, local_move
from searchers.evolution import RegularizedEvolution
from searchers.feasible import FeasibleSearch
from searchers.prior import Belief, PriorGuided
from searchers.tpe import FeasibleStartTPE


def evolve(
    seed: int, count: int, max_epochs: int = 3, searcher=None, sampler: str = "evolution"
) -> list[dict]:
    """Suggest ``count`` trials one after another, each reporting a made-up curve."""
    searcher = searcher or FeasibleSearch(
        SPACE,
        sampler,
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


@pytest.mark.parametrize("sampler", ["evolution", "prior"])
def test_a_search_continues_identically_after_a_save_and_restore(tmp_path, sampler):
    a = FeasibleSearch(SPACE, sampler, seed=2, max_epochs=3, points_to_evaluate=[SEED])
    evolve(2, 7, searcher=a)
    a.save(str(tmp_path / "searcher.pkl"))
    b = FeasibleSearch(SPACE, sampler, seed=99, max_epochs=3)
    b.restore(str(tmp_path / "searcher.pkl"))
    assert [t.number for t in evaluated(b.study)] == [t.number for t in evaluated(a.study)]
    assert evolve(2, 6, searcher=b) == evolve(2, 6, searcher=a)
    if sampler == "prior":  # local moves and TPE were replayed identically too
        assert {"incumbent", "model"} <= {t.user_attrs.get("arm") for t in a.study.trials}


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


def test_a_pareto_search_s_tpe_starts_with_30_percent_random_evaluations():
    space = SPACE.for_run(max_params=150_000)
    tpe = FeasibleSearch(space, "tpe", seed=2, num_samples=20, sizes=("params",))
    rand = FeasibleSearch(space, "random", seed=2, num_samples=20, sizes=("params",))
    assert (tpe._sampler.startup, tpe._sampler.pareto_startup) == (5, 6)
    for i in range(6):  # 30% of 20, where a search of one objective would start after 5
        assert tpe._sampler._starting(tpe.study)
        assert tpe.suggest(f"t{i}") == rand.suggest(f"t{i}")
        for searcher in (tpe, rand):
            searcher.on_trial_complete(f"t{i}", {"val_acc": 0.1 * i, "training_iteration": 1})
    assert not tpe._sampler._starting(tpe.study)


def test_unknown_searcher_names_the_choices():
    with pytest.raises(ValueError, match="known searchers: prior, tpe, evolution, random"):
        FeasibleSearch(SPACE, "optuna", seed=0)


def test_evolution_without_the_seed_preset_starts_from_random_candidates():
    searcher = FeasibleSearch(SPACE, "evolution", seed=6, max_epochs=3, num_samples=16)
    first = searcher.suggest("t0")
    assert knobs(first) != SEED and searcher.rejected > 0  # random draws, some rejected
    assert all("parent" not in t.user_attrs for t in searcher.study.trials)  # nothing to mutate


def test_evolution_mutates_one_kind_of_knob_at_a_time():
    searcher = FeasibleSearch(
        SPACE, "evolution", seed=4, max_epochs=3, num_samples=16, points_to_evaluate=[SEED]
    )
    evolve(4, 30, searcher=searcher)
    kinds = set()
    for child in (t for t in searcher.study.trials if "mutated" in t.user_attrs):
        moved = {kind_of(name, SPACE.kinds) for name in child.user_attrs["mutated"]}
        assert len(moved) == 1, child.user_attrs["mutated"]
        kinds |= moved
    assert kinds == set(SPACE.kinds)  # the recipe is reached, not only the 18 architecture knobs


def test_local_moves_pick_every_kind_about_equally_often():
    import optuna

    study = optuna.create_study()
    study.enqueue_trial(SEED)
    SPACE.sample(study.ask())
    distributions = study.trials[0].distributions  # the seed preset's knobs
    counts = dict.fromkeys(SPACE.kinds, 0)
    rng = random.Random(0)
    for _ in range(500):
        plan, moved = local_move(rng, SEED, distributions, kinds=SPACE.kinds)
        assert 1 <= len(moved) <= 2
        assert {k for k in plan if plan[k] != SEED[k]} == set(moved)
        (kind,) = {kind_of(name, SPACE.kinds) for name in moved}
        counts[kind] += 1
    # 5 kinds: 100 each expected; one knob kind of 18 (architecture) gets no more than its fifth
    assert all(60 <= n <= 140 for n in counts.values()), counts


def prior_draws(count: int, seed: int = 0) -> list[dict]:
    """``count`` candidates of a prior search that has evaluated nothing (the prior arm)."""
    import optuna

    sampler = PriorGuided(SEED, seed=seed, startup=4, kinds=SPACE.kinds)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    draws = []
    while len(draws) < count:
        trial = study.ask()
        config = SPACE.sample(trial)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # never evaluated
        if study.trials[-1].user_attrs["arm"] == "prior":  # else the model's random start-up
            draws.append(config)
    assert {t.user_attrs["arm"] for t in study.trials} == {"prior", "model"}
    return draws


def test_prior_search_draws_around_the_seed_preset_before_any_evaluation():
    import math
    import statistics
    from collections import Counter

    draws = prior_draws(150)
    for name in ("depth", "stem_width", "width_0", "downsample", "norm", "t0", "batch_size"):
        counts = Counter(d[name] for d in draws)
        value, n = counts.most_common(1)[0]
        assert value == SEED[name] and n > 0.6 * len(draws), (name, counts)
    # numeric knobs: centred on the preset's value, in log scale for lr and weight decay
    lr = statistics.median(math.log(d["lr"]) for d in draws)
    assert abs(lr - math.log(SEED["lr"])) < 0.2
    dropout = statistics.median(d["dropout"] for d in draws)
    assert abs(dropout - SEED["dropout"]) < 0.01
    assert 0.02 < statistics.pstdev(d["dropout"] for d in draws) < 0.06  # 0.15 of 0.25 wide
    assert len({json.dumps(d, sort_keys=True) for d in draws}) == len(draws)  # not one point


def report(searcher: FeasibleSearch, trial_id: str, values: list[float]) -> None:
    for epoch, value in enumerate(values, start=1):
        searcher.on_trial_result(trial_id, {"val_acc": value, "training_iteration": epoch})
    searcher.on_trial_complete(trial_id, {"val_acc": values[-1], "training_iteration": 3})


def test_prior_search_moves_from_the_prior_to_the_incumbent_and_the_model():
    searcher = FeasibleSearch(
        SPACE, "prior", seed=1, max_epochs=3, num_samples=16, points_to_evaluate=[SEED]
    )
    sampler = searcher._sampler
    assert isinstance(sampler, PriorGuided) and sampler.startup == 4
    assert knobs(searcher.suggest("seed")) == SEED
    # Before any evaluation the seed preset is the incumbent: prior and incumbent share half,
    # and the model arm is still random search (its start-up).
    assert sampler.weights(searcher.study) == {"prior": 0.25, "incumbent": 0.25, "model": 0.5}
    assert sampler._model._starting(searcher.study)
    report(searcher, "seed", [0.30, 0.40, 0.50])
    # Three more evaluated, all worse than the seed: the seed still leads, the split stays even,
    # and with four trials evaluated the model arm is TPE.
    for i in range(3):
        searcher.suggest(f"t{i}")
        report(searcher, f"t{i}", [0.1, 0.2, 0.3])
    weights = sampler.weights(searcher.study)
    assert weights["prior"] == pytest.approx(weights["incumbent"]) and weights["model"] == 0.5
    assert not sampler._model._starting(searcher.study)
    # A far-away trial that beats the seed: the incumbent moves to it and takes the prior's share.
    far = {**SEED, "depth": 3, "stem_width": 8, "width_0": 16, "width_1": 16, "width_2": 24}
    far = {k: v for k, v in far.items() if k not in ("width_3", "expansion_3", "dilation_3")}
    far |= {"batch_size": 64, "lr": 0.2, "t0": 2, "norm": "group", "downsample": "stride"}
    searcher.study.enqueue_trial(far)
    searcher.suggest("far")
    report(searcher, "far", [0.5, 0.7, 0.9])
    weights = sampler.weights(searcher.study)
    assert weights["incumbent"] > 0.45 and weights["prior"] < 0.05
    # Local moves now start from the far trial.
    for i in range(12):
        searcher.suggest(f"u{i}")
        report(searcher, f"u{i}", [0.1, 0.1, 0.1])
    trials = searcher.study.trials
    far_number = next(
        t.number for t in trials if t.params.get("norm") == "group" and t.params.get("lr") == 0.2
    )
    moves = [t for t in trials if t.user_attrs.get("arm") == "incumbent"]
    assert moves and moves[-1].user_attrs["parent"] == far_number
    assert {"incumbent", "model"} <= {t.user_attrs.get("arm") for t in trials}
    # After the start-up, the model arm is TPE's joint (multivariate) draw, not a fallback.
    late = [t for t in trials[6:] if t.user_attrs.get("arm") == "model"]
    assert late and all("tpe:relative_params:0" in t.system_attrs for t in late)


def test_a_prior_outside_the_ranges_is_moved_inside_them():
    import math

    import optuna

    prior = {**SEED, "lr": 10.0, "weight_decay": -1.0, "dropout": 0.9, "stem_width": 12}
    sampler = PriorGuided(prior, seed=0, startup=4, kinds=SPACE.kinds)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(40):
        trial = study.ask()
        config = SPACE.sample(trial)
        assert 1e-3 <= config["lr"] <= 0.3 and 1e-5 <= config["weight_decay"] <= 2e-3
        study.tell(trial, 0.5)
    for t in study.trials:
        assert math.isfinite(sampler._log_likelihood(t, prior))
    with pytest.raises(ValueError, match="0 < categorical < 1"):
        PriorGuided(SEED, seed=0, startup=4, belief=Belief(categorical=1.0))


def test_a_rejected_draw_is_drawn_again_from_the_same_arm():
    # The seed preset has 197,392 parameters under a 200,000 budget: most prior draws that
    # widen a layer are rejected; without the redraw, the model would take their turns.
    searcher = FeasibleSearch(
        SPACE, "prior", seed=3, max_epochs=3, num_samples=64, points_to_evaluate=[SEED]
    )
    searcher.suggest("seed")
    for i in range(40):
        searcher.suggest(f"t{i}")
    trials = searcher.study.trials[1:]
    rejected = [t for t in trials if "rejected" in t.user_attrs]
    assert rejected  # the test exercises the redraw
    for before, after in itertools.pairwise(trials):
        if "rejected" in before.user_attrs:
            assert after.user_attrs["arm"] == before.user_attrs["arm"]
    trained = [t.user_attrs["arm"] for t in trials if "rejected" not in t.user_attrs]
    # nothing evaluated yet: prior 1/4, incumbent (the seed) 1/4, model 1/2 of 40
    assert 4 <= trained.count("prior") <= 18 and 4 <= trained.count("incumbent") <= 18, trained
