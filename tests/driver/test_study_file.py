"""A study journal damaged before a resume: rebuilt from the trials' logs, numbered as before, so
that the restored searcher draws the candidates it would have drawn from the whole journal."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import optuna
import pytest

from driver.config import RunConfig
from driver.study_file import whole_study
from experiment.journal import load_study
from search_spaces import get_space
from search_spaces.cifar_lt200k import SPACE
from search_spaces.rules import check
from searchers import SAMPLERS
from searchers.feasible import FeasibleSearch, trial_seed
from searchers.rebuild import number_generations

SESSION = "2026-12-07_12-00-00"


def logged_search(
    folder: Path, sampler: str, sizes: tuple[str, ...], space=SPACE, trials: int = 10, warm=()
) -> None:
    """``trials`` trials of a search as Tune leaves them: result.json per trial, its snapshot and
    the searcher's; finished, stopped early, one failed, the last two running; rejected ones
    logged. ``warm``: the knowledge it began with."""
    folder.mkdir()
    searcher = FeasibleSearch(
        space,
        sampler,
        seed=3,
        max_epochs=3,
        num_samples=12,
        points_to_evaluate=[space.preset("seed")],
        rejected_log=str(folder / "rejected.jsonl"),
        journal=str(folder / "study.journal"),
        name="s",
        sizes=sizes,
        warm_start=list(warm),
    )
    trial_data = []
    for i in range(trials):
        trial_id = f"0000{i}"
        config = searcher.suggest(trial_id)
        params = check(space.decode(config)[0], space.rules, space.analyze)[0].params
        quality = random.Random(json.dumps(config, sort_keys=True)).random() * 0.3
        epochs = 1 if i % 2 or i >= trials - 2 else 3
        lines = []
        for epoch in range(1, epochs + 1):
            result = {"trial_id": trial_id, "training_iteration": epoch, "params": params}
            result |= {"val_acc": 0.2 + quality + 0.05 * epoch, "timestamp": int(time.time())}
            result |= {"time_this_iter_s": 0.5, "time_total_s": 0.5 * epoch}
            lines.append(json.dumps({**result, "config": config}) + "\n")
            searcher.on_trial_result(trial_id, result)
        status = "RUNNING" if i >= trials - 2 else "ERROR" if i == 5 else "TERMINATED"
        if status != "RUNNING":
            searcher.on_trial_complete(trial_id, result, error=status == "ERROR")
        (folder / f"trial_{trial_id}").mkdir()
        (folder / f"trial_{trial_id}" / "result.json").write_text("".join(lines))
        trial = {"trial_id": trial_id, "status": status, "relative_logdir": f"trial_{trial_id}"}
        trial_data.append([json.dumps(trial | {"config": config}), json.dumps({})])
    state = json.dumps({"trial_data": trial_data})
    (folder / f"experiment_state-{SESSION}.json").write_text(state)
    (folder / f"searcher-state-{SESSION}.pkl").write_bytes(pickle.dumps(searcher.__getstate__()))
    options = {"space": space.name, "searcher": sampler, "seed": 3, "max_epochs": 3}
    (folder / "run.json").write_text(json.dumps({"space": space.name, "options": options}))


def restored(folder: Path) -> FeasibleSearch:
    """The searcher of the folder's snapshot, pointed at its files (as a resume does)."""
    searcher = FeasibleSearch.__new__(FeasibleSearch)
    searcher.restore(str(folder / f"searcher-state-{SESSION}.pkl"))
    searcher.journal, searcher.rejected_log = str(folder / "study.journal"), None
    return searcher


def held(study) -> list[tuple]:
    """What the samplers read of each trial: TPE's note of the knobs it drew together aside,
    read only of a running trial, for the knobs the trial never came to use."""
    return [
        (
            t.number,
            t.state.name,
            t.params,
            t.values,
            t.intermediate_values,
            t.user_attrs.get("tune_trial_id"),
            t.user_attrs.get("rejected"),
            t.user_attrs.get("epochs"),
            {k: v for k, v in t.system_attrs.items() if not k.startswith("tpe:relative_params")},
        )
        for t in study.trials
    ]


def damage(journal: Path, how: str) -> None:
    text = journal.read_bytes()
    lines = text.splitlines(keepends=True)
    if how == "empty":
        journal.write_bytes(b"")
    elif how == "missing":
        journal.unlink()
    elif how == "a cut last line":
        journal.write_bytes(text + b'{"op_code":7,"worker_id":"x","tri')
    elif how == "cut in the middle":
        journal.write_bytes(text[: len(text) // 2])
    else:  # a garbage line in the middle
        middle = len(lines) // 2
        journal.write_bytes(b"".join([*lines[:middle], b"\x00\x13garbage\n", *lines[middle:]]))


DAMAGE = ["empty", "missing", "cut in the middle", "a garbage line", "a cut last line"]
SEARCHES = [(name, ("params",) if name == "nsga2" else ()) for name in SAMPLERS]


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """Each sampler's logged search, made once and copied by each test."""
    made = {}

    def search(sampler: str) -> Path:
        if sampler not in made:
            made[sampler] = tmp_path_factory.mktemp("searches") / sampler
            logged_search(made[sampler], sampler, dict(SEARCHES)[sampler])
        return made[sampler]

    return search


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize(("sampler", "sizes"), SEARCHES, ids=[s for s, _ in SEARCHES])
def test_a_damaged_study_is_rebuilt_and_the_search_goes_on_as_from_the_whole_one(
    sampler, sizes, how, searches, tmp_path
):
    made = searches(sampler)
    whole, damaged = tmp_path / "whole", tmp_path / "damaged"
    shutil.copytree(made, whole)
    shutil.copytree(made, damaged)
    damage(damaged / "study.journal", how)
    objectives = ",".join(("val_acc", *sizes)) if sizes else None
    run = RunConfig(
        space=SPACE.name, searcher=sampler, seed=3, max_epochs=3, num_samples=12,
        name="s", storage=str(tmp_path), objectives=objectives,
    )  # fmt: skip

    assert whole_study(str(whole), run, SPACE) == []  # a whole journal is left as it is
    said = whole_study(str(damaged), run, SPACE)
    if how == "a cut last line":  # mended: the rest is whole
        assert said == [
            f"{damaged}/study.journal: left out the last line (cut short by a kill); the "
            "damaged file is kept as study.journal.damaged."
        ]
        assert held(load_study(str(damaged))) == held(load_study(str(whole)))
        return

    assert said[-1].startswith(f"{damaged}/study.journal: rebuilt from the logs of 10 trial(s) ")
    assert " candidate(s), numbered as before" in said[-1]
    if how in ("cut in the middle", "a garbage line"):
        assert (damaged / "study.journal.damaged").is_file()
    assert held(load_study(str(damaged))) == held(load_study(str(whole)))
    a, b = restored(whole), restored(damaged)
    drawn = [b.suggest(f"n{i}") for i in range(4)]
    assert [c["seed"] for c in drawn] == [trial_seed(3, n) for n in trial_numbers(damaged, 4)]
    if sampler != "nsga2":  # NSGA-II keeps each generation's parents in the study, chosen anew
        assert [a.suggest(f"n{i}") for i in range(4)] == drawn
        assert held(load_study(str(damaged))) == held(load_study(str(whole)))


def trial_numbers(folder: Path, last: int) -> list[int]:
    """The numbers of the study's last ``last`` trials that were not rejected."""
    trials = [t for t in load_study(str(folder)).trials if "rejected" not in t.user_attrs]
    return [t.number for t in trials[-last:]]


def test_a_knob_the_run_fixes_is_no_damage_and_is_drawn_again(tmp_path):
    """--input-size sets the config over what the sampler drew (the smoke test's 32 is not even
    among the space's sizes): a whole journal is left as it is, and an empty one rebuilt."""
    space = get_space("hw2p2_resnet").for_run(knobs={"input_size": 32})
    logged_search(tmp_path / "made", "tpe", (), space=space, trials=6)
    run = RunConfig(space=space.name, seed=3, max_epochs=3, name="s", storage=str(tmp_path))
    assert whole_study(str(tmp_path / "made"), run, space) == []
    (tmp_path / "made" / "study.journal").write_bytes(b"")
    said = whole_study(str(tmp_path / "made"), run, space)
    assert "rebuilt from the logs of 6 trial(s)" in said[-1]
    rebuilt = load_study(str(tmp_path / "made")).trials
    assert [t.user_attrs.get("tune_trial_id") for t in rebuilt if t.params][:2] == [
        "00000",
        "00001",
    ]


def test_knowledge_of_earlier_searches_that_cannot_be_read_keeps_every_number(tmp_path):
    """A warm start whose earlier experiment went since: its trials' numbers hold failed
    trials, and every trial of this search keeps its own."""
    scratch = optuna.create_study()
    for _ in range(3):
        trial = scratch.ask()
        SPACE.sample(trial)
        scratch.tell(trial, 0.3)
    logged_search(tmp_path / "made", "tpe", (), trials=6, warm=scratch.trials)
    whole = held(load_study(str(tmp_path / "made")))
    (tmp_path / "made" / "study.journal").unlink()
    gone = str(tmp_path / "gone")
    run = RunConfig(space=SPACE.name, seed=3, max_epochs=3, name="s", storage=str(tmp_path))
    said = whole_study(str(tmp_path / "made"), replace(run, warm_start=[gone]), SPACE)
    assert said[-1].endswith(
        "numbered as before; the knowledge of --warm-start's earlier experiments is not (they "
        "cannot be read)."
    )
    rebuilt = held(load_study(str(tmp_path / "made")))
    assert [t[1] for t in rebuilt[:3]] == ["FAIL"] * 3 and rebuilt[3:] == whole[3:]


def test_nsga2_counts_only_the_trials_ended_when_a_trial_was_asked():
    """Two at a time: a trial asked while the one before it still ran does not count it."""
    made = [trial_at(n, start, end) for n, (start, end) in enumerate([(0, 10), (1, 5), (6, 20)])]
    number_generations(made, 0, "g", population=1)
    # 0: nothing ended; 1: asked at 1 while 0 ran; 2: asked at 6, after 1 ended at 5
    assert [t.system_attrs["g"] for t in made] == [0, 0, 1]


def trial_at(number: int, start: float, end: float):
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE,
        value=0.5,
        params={"x": 0.5},
        distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
        user_attrs={"tune_trial_id": str(number)},
    )
    trial.number = number
    trial.datetime_start = datetime.fromtimestamp(1_000_000 + start)
    trial.datetime_complete = datetime.fromtimestamp(1_000_000 + end)
    return trial
