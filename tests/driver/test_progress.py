"""The live console: what it counts, how it ranks, when it prints and the time it says is left."""

from __future__ import annotations

import json
from types import SimpleNamespace

from driver.progress import Progress

SEED = {"depth": 4, "lr": 0.05, "batch_size": 128}


def trial(trial_id, status, epochs, val_acc=None, best=None, **config):
    result = {"training_iteration": epochs}
    if val_acc is not None:
        result["val_acc"] = val_acc
    seen = {"val_acc": {"max": best if best is not None else val_acc}} if val_acc else {}
    return SimpleNamespace(
        trial_id=trial_id,
        status=status,
        config={**SEED, **config},
        last_result=result,
        metric_analysis=seen,
    )


def search_progress(experiment=None) -> Progress:
    progress = Progress(
        ("depth", "lr", "batch_size"),
        ["val_acc"],
        max_epochs=6,
        asha=True,
        baseline=SEED,
        experiment=experiment,
    )
    progress.setup(total_samples=5, metric="val_acc", mode="max")
    return progress


TRIALS = [
    trial("a", "TERMINATED", 2, 0.21, depth=5),  # stopped by ASHA at the first rung
    trial("b", "TERMINATED", 6, 0.30, best=0.41, depth=6, lr=0.2),  # best so far 0.41
    trial("seed", "RUNNING", 4, 0.35),
    trial("c", "ERROR", 1, 0.10, depth=3),
]


def test_the_headline_counts_as_the_summary_does_and_names_the_rejected(tmp_path):
    rejected = [{"number": n, "config": {}, "reasons": ["too big"]} for n in (1, 4)]
    (tmp_path / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejected))
    line = search_progress(str(tmp_path)).headline(TRIALS, elapsed_s=65)

    assert line.startswith(
        "[01:05] 3 of 5 trials ended (1 ran every epoch, 1 stopped early by ASHA, 1 failed), "
        "1 running or waiting; 13 epochs trained; 2 candidates rejected by the rules"
    )


def test_a_trial_that_ended_itself_on_a_nan_loss_counts_as_failed_as_in_the_summary():
    diverged = trial("d", "TERMINATED", 1, 0.1)
    diverged.last_result["failure"] = "nan"  # what the loop reports before it stops
    progress = search_progress()
    line = progress.headline([*TRIALS, diverged], elapsed_s=65)
    assert "4 of 5 trials ended (1 ran every epoch, 1 stopped early by ASHA, 2 failed)" in line
    assert progress.state(diverged) == "failed"
    diverged.metric_analysis = {"val_acc": {"max": 0.9}}  # its best before the loss went NaN
    rows = progress.table([*TRIALS, diverged])[1:]
    assert {row.split()[0] for row in rows[-2:]} == {"c", "d"}  # failed trials rank last


def test_the_table_ranks_by_the_best_metric_so_far_with_one_lr_and_the_seed_marked():
    header, *rows = search_progress().table(TRIALS)

    assert header.split() == ["trial", "state", "epoch", "val_acc", "depth", "lr", "batch_size"]
    assert [row.split()[0] for row in rows] == ["b", "seed", "a", "c"]
    assert rows[0].split()[1:4] == ["done", "6/6", "0.4100"]  # its best, not its last 0.30
    assert rows[1].endswith("seed preset") and "seed preset" not in "".join(rows[2:])
    assert rows[2].split()[1] == "stopped" and rows[3].split()[1] == "failed"


def test_time_left_is_the_open_epochs_at_this_runs_pace():
    progress = search_progress()
    progress.should_report([])  # the run starts with no epoch trained
    # Ended trials trained (2 + 6 + 1) / 3 = 3 epochs each; the running one (4 done) gets at
    # least one more, the trial still to come 3: 4 epochs at 13 epochs per 65 s = 20 s.
    assert progress.time_left(TRIALS, elapsed_s=65) == 20
    assert progress.headline(TRIALS, elapsed_s=65).endswith("about 20 s left")
    assert progress.time_left(TRIALS[:1], elapsed_s=65) is None  # 2 epochs: too few to tell


def test_it_prints_on_a_trials_end_or_after_30_s_and_never_the_same_state_twice(capsys):
    progress = search_progress()
    running = [trial("a", "RUNNING", 1, 0.2)]
    assert not progress.should_report([trial("a", "PENDING", 0)])
    assert not progress.should_report(running)  # a result, but not 30 s yet
    ended = [trial("a", "TERMINATED", 2, 0.2)]
    assert progress.should_report(ended)
    progress.report(ended, done=False)
    assert not progress.should_report(ended, done=True)  # the last print already said it
    assert capsys.readouterr().out.count("trials ended") == 1

    progress.every_s = 0.0  # 30 s later: a new result is printed without a trial's end
    assert progress.should_report([*ended, trial("b", "RUNNING", 1, 0.3)])


def test_every_trial_that_ended_since_the_last_print_is_shown_and_the_rest_counted(capsys):
    """Eight ended trials and a table of 6 rows: a weak trial that started and was stopped
    between two prints still appears once; the others beyond the rows are counted, not lost."""
    progress = search_progress("exp")
    progress.total = 9
    first = [trial(f"t{i}", "TERMINATED", 6, 0.5 + i / 100) for i in range(8)]
    progress.report(first, done=False)  # each ended since the last print: all shown
    assert len(capsys.readouterr().out.splitlines()) == 2 + 8
    weak = trial("weak", "TERMINATED", 2, 0.1)  # started and stopped between two prints
    progress.report([*first, weak], done=False)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[2:]] == [
        "t7",
        "t6",
        "t5",
        "t4",
        "t3",
        "t2",
        "weak",
        "...",
    ]
    assert out[-1] == "  ... and 2 more trials (reports/ablations.csv)"
    assert progress.should_report([*first, weak], done=True)  # the end shows the 2 left out
    progress.report([*first, weak, trial("x", "RUNNING", 1, 0.2)], done=True)
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(rows) == 10 and "..." not in rows  # the end: every trial, up to 20


def test_each_rejected_candidate_is_named_once_as_it_comes(tmp_path, capsys):
    log = tmp_path / "rejected.jsonl"
    reasons = {1: "261,000 params is not below 200,000", 4: "receptive field 21 is not above 32"}
    log.write_text(json.dumps({"number": 0, "config": {}, "reasons": ["before a resume"]}) + "\n")
    progress = search_progress(str(tmp_path))  # a resume: the one before it is not named again
    with log.open("a") as f:
        f.write(json.dumps({"number": 1, "config": {}, "reasons": [reasons[1]]}) + "\n")
    progress.report(TRIALS, done=False)
    out = capsys.readouterr().out.splitlines()
    assert f"  rejected 1: {reasons[1]}" in out and "before a resume" not in "".join(out)
    with log.open("a") as f:
        f.write(json.dumps({"number": 4, "config": {}, "reasons": [reasons[4]]}) + "\n")
    progress.report(TRIALS, done=False)
    out = capsys.readouterr().out.splitlines()
    assert f"  rejected 4: {reasons[4]}" in out and f"  rejected 1: {reasons[1]}" not in out


def test_the_time_left_moves_halfway_to_each_new_estimate():
    progress = search_progress()
    assert progress.steadied(900.0) == 900.0  # the first estimate as it is
    assert progress.steadied(600.0) == 750.0  # an end 5 min earlier moves it 2.5 min
    assert progress.steadied(660.0) == 705.0
