from __future__ import annotations

import json
import random

import pytest

from experiment.journal import REJECTION
from experiment.trials import FAILED, FINISHED, STOPPED
from search_spaces.cifar_lt200k import SEED, SPACE
from search_spaces.rules import check
from searchers import MULTI_OBJECTIVE
from searchers.feasible import FeasibleSearch, trial_seed


def drive(searcher: FeasibleSearch, count: int, max_epochs: int = 3) -> list[dict]:
    """Ask for ``count`` trials and complete each with a made-up accuracy."""
    rng = random.Random(0)
    configs = []
    for i in range(count):
        config = searcher.suggest(f"t{i}")
        configs.append(config)
        searcher.on_trial_result(f"t{i}", {"val_acc": rng.random(), "training_iteration": 1})
        final = {"val_acc": rng.random(), "training_iteration": rng.choice([1, max_epochs])}
        searcher.on_trial_complete(f"t{i}", final)
    return configs


def test_suggestions_obey_the_rules_and_rejections_are_logged(tmp_path):
    log = tmp_path / "rejected.jsonl"
    searcher = FeasibleSearch(SPACE, "tpe", seed=1, max_epochs=3, rejected_log=str(log))
    configs = drive(searcher, 30)
    for config in configs:
        spec, _ = SPACE.decode(config)
        assert check(spec, SPACE.rules)[1] == []
    assert searcher.rejected > 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == searcher.rejected
    for entry in entries:
        assert entry["reasons"] == check(SPACE.decode(entry["config"])[0], SPACE.rules)[1] != []
    infeasible = [t for t in searcher.study.trials if any(v > 0 for v in t.constraints.values())]
    assert len(infeasible) == searcher.rejected  # Optuna was told, so TPE learns from them


def test_seed_preset_comes_first_with_a_trial_seed():
    searcher = FeasibleSearch(SPACE, "tpe", seed=7, points_to_evaluate=[SPACE.presets["seed"]])
    first = searcher.suggest("t0")
    assert first == {**SPACE.presets["seed"], "seed": trial_seed(7, 0)}


def test_candidates_cover_the_space():
    configs = drive(FeasibleSearch(SPACE, "tpe", seed=3, max_epochs=3), 40)
    assert {c["depth"] for c in configs} == {3, 4, 5}
    assert {c["downsample"] for c in configs} == {"dilated", "stride"}
    assert {c["norm"] for c in configs} == {"batch", "group", "layer"}
    assert len({c["batch_size"] for c in configs}) == 3
    lrs = sorted(c["lr"] for c in configs)
    assert lrs[0] < 0.01 and lrs[-1] > 0.05
    assert len({c["seed"] for c in configs}) == 40


def test_restored_searcher_continues_identically(tmp_path):
    a = FeasibleSearch(SPACE, "random", seed=5, max_epochs=3)
    drive(a, 4)
    a.save(str(tmp_path / "searcher.pkl"))
    b = FeasibleSearch(SPACE, "random", seed=99, max_epochs=3)
    b.restore(str(tmp_path / "searcher.pkl"))
    assert b.suggest("next") == a.suggest("next")
    assert b.rejected == a.rejected


@pytest.mark.parametrize("sampler", MULTI_OBJECTIVE)
def test_a_restored_pareto_search_continues_identically(tmp_path, sampler):
    """Past its start-up (TPE's 3 of 8, NSGA-II's first generation of 4): the restored
    searcher's next candidates are the ones the uninterrupted search draws."""
    made = {"max_epochs": 3, "num_samples": 8, "sizes": ("params",)}
    a = FeasibleSearch(SPACE, sampler, seed=4, points_to_evaluate=[SEED], **made)
    drive(a, 5)
    a.save(str(tmp_path / "searcher.pkl"))
    b = FeasibleSearch(SPACE, sampler, seed=99, **made)
    b.restore(str(tmp_path / "searcher.pkl"))
    assert [b.suggest(f"n{i}") for i in range(3)] == [a.suggest(f"n{i}") for i in range(3)]


def test_no_seed_trial_leaves_the_first_trial_to_the_searcher(tmp_path):
    from driver.config import RunConfig
    from driver.plan import Plan
    from driver.tuner import build_tuner

    seed = SPACE.presets["seed"]
    folders = {"storage": str(tmp_path), "data_dir": str(tmp_path)}
    counts = {"num_samples": 2, "max_epochs": 2, "grace_period": 1, "reduction_factor": 2}
    firsts = []
    for seed_trial in (True, False):
        run = RunConfig("cifar_lt200k", "x", **folders, **counts, seed_trial=seed_trial)
        _, searcher = build_tuner(SPACE, run, Plan(10, 1, (1,), 0.0, max_concurrent=1))
        first = searcher.suggest("t0")
        firsts.append({key: first[key] for key in first if key != "seed"})
    assert firsts[0] == seed
    assert firsts[1] != seed


def test_the_result_that_ends_a_trial_is_recorded_at_its_epoch():
    # Tune hands the result ASHA stops a trial on (and the last epoch's) only to
    # on_trial_complete: the study must still see it at that epoch.
    searcher = FeasibleSearch(SPACE, "tpe", seed=0, max_epochs=9)
    searcher.suggest("stopped")
    searcher.on_trial_result("stopped", {"val_acc": 0.2, "training_iteration": 1})
    searcher.on_trial_result("stopped", {"val_acc": 0.3, "training_iteration": 2})
    searcher.on_trial_complete("stopped", {"val_acc": 0.25, "training_iteration": 3})
    (trial,) = [t for t in searcher.study.trials if t.intermediate_values]
    assert trial.intermediate_values == {1: 0.2, 2: 0.3, 3: 0.25}
    assert trial.state.name == "PRUNED"


def test_rules_no_network_can_meet_are_refused_before_the_search(capsys):
    from searchers.feasible import infeasible

    assert infeasible(SPACE) is None  # the seed preset meets the space's own rules
    assert infeasible(SPACE.for_run(max_params=150_000), draws=50) is None  # a draw does
    assert infeasible(SPACE.for_run(max_params=1_000), draws=20) == (
        "no network of space cifar_lt200k meets its rules (params < 1,000, receptive field > 44, "
        "a dilated conv, a depthwise-separable conv, no max-pooling, global average pooling): "
        "the seed preset breaks them (197,392 params is not below 1,000), and so did 20 random "
        "candidates, the smallest with 68,168 params; loosen the rules (--max-params) or choose "
        "another space."
    )


def stored_study(journal):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(journal)))


def test_the_study_is_kept_in_optunas_journal_and_loads_with_optuna(tmp_path):
    journal = str(tmp_path / "study.journal")
    searcher = FeasibleSearch(SPACE, "tpe", seed=1, max_epochs=3, journal=journal, name="s")
    drive(searcher, 12)
    study = stored_study(journal)  # as optuna-dashboard and a user open it
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 12 + searcher.rejected
    assert "RUNNING" not in states and searcher.rejected > 0
    rejected = [t for t in study.trials if "rejected" in t.user_attrs]
    assert len(rejected) == searcher.rejected
    assert all(max(t.constraints.values()) > 0 for t in rejected)  # infeasible to Optuna


def test_a_restored_searcher_settles_the_trials_a_kill_left_between_snapshot_and_journal(
    tmp_path,
):
    import pickle

    journal, snapshot = str(tmp_path / "study.journal"), str(tmp_path / "searcher.pkl")
    searcher = FeasibleSearch(SPACE, "random", seed=2, max_epochs=3, journal=journal, name="s")
    searcher.suggest("done")
    searcher.suggest("running")
    searcher.save(snapshot)  # Tune's last snapshot: both trials running
    searcher.on_trial_complete("done", {"val_acc": 0.4, "training_iteration": 3})
    searcher.suggest("lost")  # asked after it: Tune will never know this one...
    searcher.suggest("orphan")  # ...nor this one, which even finished
    searcher.on_trial_complete("orphan", {"val_acc": 0.9, "training_iteration": 3})
    assert len(stored_study(journal).trials) == 4 + searcher.rejected
    # The driver is killed; Tune unpickles the searcher and restores its snapshot.
    restored = pickle.loads(pickle.dumps(searcher))
    restored.restore(snapshot)
    # Tune replays "done" from its checkpoint (the snapshot has it running); ASHA now stops it
    # at its first epoch, and the study records that end, not the one the kill undid.
    study = stored_study(journal)  # until its first use, the journal holds what the kill left
    trained = [t for t in study.trials if "rejected" not in t.user_attrs]
    assert [t.state.name for t in trained] == ["COMPLETE", "RUNNING", "RUNNING", "COMPLETE"]
    restored.on_trial_result("done", {"val_acc": 0.2, "training_iteration": 1})
    restored.on_trial_complete("done", {"val_acc": 0.2, "training_iteration": 1})
    restored.on_trial_complete("running", {"val_acc": 0.3, "training_iteration": 3})
    restored.suggest("new")
    study = stored_study(journal)
    trained = [t for t in study.trials if "rejected" not in t.user_attrs]
    assert [t.state.name for t in trained] == ["PRUNED", "COMPLETE", "RUNNING"]
    assert trained[0].intermediate_values == {1: 0.2, 3: 0.4}  # epoch 3: before the kill
    assert trained[1].value == 0.3  # lost and orphan count nowhere; nothing is told twice
    assert len(study.trials) == len(trained) + restored.rejected


def test_at_the_end_of_a_run_the_study_holds_the_epochs_the_logs_hold(tmp_path):
    """A graceful stop can leave a trial's last epoch logged but untold to the searcher (or told
    as pruned at the epoch before): the end of the run sets the study to the logs. Trials told
    right stay as they are: one ASHA stopped, one whose loss went NaN (told at its score 0)."""
    import pandas as pd

    from experiment.results import Experiment
    from searchers.study import agree_with_the_logs

    journal = str(tmp_path / "study.journal")
    searcher = FeasibleSearch(SPACE, "tpe", seed=1, max_epochs=2, journal=journal, name="s")
    firsts = {"a": 0.2, "b": 0.3, "c": 0.1, "d": 0.05, "e": 0.0}
    for trial, first in firsts.items():
        searcher.suggest(trial)
        searcher.on_trial_result(trial, {"val_acc": first, "training_iteration": 1})
    searcher.suggest("f")  # failed before its first epoch was logged
    searcher.on_trial_complete("a", {"val_acc": 0.2, "training_iteration": 1})  # at the stop
    searcher.on_trial_complete("b", {"val_acc": 0.5, "training_iteration": 2})  # told all
    for trial in ("d", "e"):  # stopped by ASHA; NaN loss, scored 0
        searcher.on_trial_complete(trial, {"val_acc": firsts[trial], "training_iteration": 1})
    logs = [("a", 1, 0.2), ("a", 2, 0.4), ("b", 1, 0.3), ("b", 2, 0.5), ("c", 1, 0.1)]
    logs.append(("c", 2, 0.15))  # c: epoch 2 logged, the stop came before it was told
    logs += [("d", 1, 0.05), ("e", 1, 0.0)]
    epochs = pd.DataFrame(logs, columns=["Name", "training_iteration", "val_acc"])
    epochs["Name"] = "trial_" + epochs["Name"]
    states = {"a": FINISHED, "b": FINISHED, "c": FINISHED, "d": STOPPED, "e": FAILED}
    states["f"] = FAILED
    trials = pd.DataFrame({"Name": [f"trial_{t}" for t in states], "State": states.values()})
    experiment = Experiment(str(tmp_path), {}, epochs, trials, study=stored_study(journal))
    started = {t.number: t.datetime_start for t in searcher.study.trials}

    assert agree_with_the_logs(experiment, journal, "val_acc") == 3
    study = stored_study(journal)  # as Optuna's tools open it
    by_trial = {
        t.user_attrs["tune_trial_id"]: t for t in study.trials if "rejected" not in t.user_attrs
    }
    assert {k: (t.state.name, t.intermediate_values, t.value) for k, t in by_trial.items()} == {
        "a": ("COMPLETE", {1: 0.2, 2: 0.4}, 0.4),
        "b": ("COMPLETE", {1: 0.3, 2: 0.5}, 0.5),
        "c": ("COMPLETE", {1: 0.1, 2: 0.15}, 0.15),
        "d": ("PRUNED", {1: 0.05}, 0.05),
        "e": ("PRUNED", {1: 0.0}, 0.0),
        "f": ("FAIL", {}, None),
    }
    assert {t.number: t.datetime_start for t in study.trials} == started
    assert [t.number for t in study.trials] == list(range(len(study.trials)))
    before = {t.number: t.system_attrs for t in searcher.study.trials}  # constraints
    assert {t.number: t.system_attrs for t in study.trials} == before
    experiment.study = study
    assert agree_with_the_logs(experiment, journal, "val_acc") == 0  # nothing left to mend


@pytest.mark.parametrize("sampler", MULTI_OBJECTIVE)
def test_a_pareto_search_tells_the_metric_and_the_size_and_keeps_the_epochs(sampler):
    """Optuna refuses intermediate values with several objectives: each epoch's metric is in
    the trial's ``epochs`` user attribute; a finished trial is told (metric, params), one that
    ASHA stopped is pruned (TPE ranks it below the finished ones)."""
    search = FeasibleSearch(
        SPACE, sampler, seed=0, max_epochs=3, num_samples=8, points_to_evaluate=[SEED],
        sizes=("params",),
    )  # fmt: skip
    told = {}
    for i in range(6):
        config = search.suggest(f"t{i}")
        params = SPACE.analyze(SPACE.decode(config)[0]).params
        assert params < 200_000
        last = 3 if i % 2 == 0 else 1  # every other trial stopped at epoch 1
        for epoch in range(1, last + 1):
            result = {"training_iteration": epoch, "val_acc": 0.1 * epoch + 0.01 * i}
            result["params"] = params
            (search.on_trial_result if epoch < last else search.on_trial_complete)(f"t{i}", result)
        told[i] = (params, last)
    assert [d.name for d in search.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trained = [t for t in search.study.trials if REJECTION not in t.user_attrs]
    assert trained[0].params == {k: v for k, v in SEED.items() if k in trained[0].params}
    for i, trial in enumerate(trained):
        params, last = told[i]
        assert trial.intermediate_values == {}
        assert trial.user_attrs["epochs"] == {
            str(e): pytest.approx(0.1 * e + 0.01 * i) for e in range(1, last + 1)
        }
        if last == 3:
            assert trial.state.name == "COMPLETE"
            assert trial.values == [pytest.approx(0.3 + 0.01 * i), params]
        else:
            assert trial.state.name == "PRUNED" and trial.values is None
    for trial in search.study.trials:  # rejected candidates: told with their size
        if REJECTION in trial.user_attrs and "params" in trial.user_attrs[REJECTION]:
            assert trial.values == [0.0, trial.user_attrs[REJECTION]["params"]]
