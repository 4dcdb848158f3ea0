from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from driver.cluster import trials_that_fit, with_resources
from driver.config import RunConfig
from driver.plan import Plan
from experiment.results import load_experiment
from nas.cli import command
from nas.outcome import epochs_sentence
from nas.run import main
from reports.ranking import best_trial
from search_spaces import get_space
from tests.conftest import REPO, assert_study_matches_the_trials, run_module
from trainables.data import cifar10
from trainables.data.synthetic import write_synthetic_hw2p2


def test_list_spaces(capsys):
    assert main(["--list-spaces"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cifar_lt200k") and "under 200k parameters" in out


def test_a_smoke_test_is_named_apart_from_real_searches():
    from nas.run import config_of, parser

    smoke = config_of(parser().parse_args(["--space", "cifar_lt200k", "--smoke-test"]))
    real = config_of(parser().parse_args(["--space", "cifar_lt200k"]))
    assert smoke.name.startswith("smoke-cifar_lt200k-20") and real.name.startswith(
        "cifar_lt200k-20"
    )


def test_unknown_space_lists_known_ones(capsys):
    assert main(["--space", "resnet9000"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "nas.run: error: unknown space 'resnet9000'; known spaces: cifar_lt200k, hw2p2_resnet."
    )


def test_small_is_the_demos_search_and_each_of_its_flags_can_still_be_given():
    from driver.config import RunConfig

    make = (REPO / "Makefile").read_text()
    assert "DEMO_ARGS ?= --space cifar_lt200k --small --storage ./experiments" in make
    small = RunConfig.from_flags({"space": "cifar_lt200k", "small": True})
    shape = ("num_samples", "max_epochs", "grace_period", "reduction_factor", "min_rung_steps")
    assert [getattr(small, k) for k in (*shape, "train_images")] == [8, 6, 2, 3, 10, 1200]
    more = RunConfig.from_flags({"space": "cifar_lt200k", "small": True, "num_samples": 12})
    assert (more.num_samples, more.max_epochs) == (12, 6)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--smoke-test", "--small"],
            "--smoke-test and --small are two sizes of search: give one.",
        ),
        (
            ["--max-epochs", "3", "--grace-period", "4"],
            "--max-epochs must be >= --grace-period (got 3 < 4).",
        ),
        (["--max-epochs", "-2"], "--max-epochs must be at least 1 (got -2)."),
        (["--num-samples", "0"], "--num-samples must be at least 1 (got 0)."),
        (["--reduction-factor", "1"], "--reduction-factor must be at least 2 (got 1)."),
        (
            ["--gpus-per-trial", "-0.5"],
            "--gpus-per-trial must be 0 or a number of GPUs of at least 0.01 (got -0.5): for "
            "example 1, or 0.5 to share a GPU between two trials.",
        ),
        (
            ["--gpus-per-trial", "2"],
            "--gpus-per-trial above 1 is not supported: a trial trains on one GPU (got 2); "
            "use 1, or a fraction to share a GPU between trials.",
        ),
        (["--val-fraction", "1.5"], "--val-fraction must be between 0 and 1 (got 1.5)."),
        (["--resume"], "--resume needs the --name of the experiment to continue."),
        *(
            (
                [*resume, "--name", name],
                f"--name must be one folder name inside --storage, without '/', '\\', a "
                f"leading dot or control characters (got {name!r}): for example "
                "'cifar-search-1'.",
            )
            for name in ("../../x", "a/b", ".hidden", "a\tb", "..")
            for resume in ([], ["--resume"])
        ),
    ],
)
def test_invalid_options_give_one_sentence(flags, message, capsys):
    assert main(["--space", "cifar_lt200k", *flags]) == 2
    assert capsys.readouterr().err.strip() == f"nas.run: error: {message}"


@pytest.mark.parametrize(
    ("nodes", "cpus_per_trial", "gpus_per_trial", "fit"),
    [
        ([(16, 1)], 1, 0.2, 5),  # 1 // 0.2 == 4.0 would leave a fifth of the GPU idle
        ([(16, 2)], 1, 0.4, 4),  # 2 per GPU: a trial never spans two GPUs
        ([(16, 1)], 1, 0.1, 10),
        ([(2, 1)], 1, 0.25, 2),  # then the CPUs are the limit
        ([(2, 1), (30, 0)], 1, 0.2, 2),  # the GPU node's own CPUs, not the cluster's
        ([(8, 1), (8, 1)], 1, 0.25, 8),
        ([(1, 0)], 0.2, 0, 5),
        ([(8, 0)], 1, 1, 0),  # asks for a GPU the cluster does not have
    ],
)
def test_trials_that_fit_count_per_node_and_gpu(nodes, cpus_per_trial, gpus_per_trial, fit):
    resources = [{"CPU": float(cpus), "GPU": float(gpus)} for cpus, gpus in nodes]
    assert trials_that_fit(resources, cpus_per_trial, gpus_per_trial) == fit


@pytest.mark.parametrize(
    "space, gpus, asked, share, at_once",
    [
        ("cifar_lt200k", 1, None, 0.25, 4),  # the small network shares a GPU by default
        ("hw2p2_resnet", 1, None, 1.0, 1),
        ("cifar_lt200k", 1, 1.0, 1.0, 1),  # --gpus-per-trial wins
        ("cifar_lt200k", 0, None, 0.0, 16),  # no GPU: CPU trials
    ],
)
def test_a_trial_takes_its_space_s_share_of_a_gpu(monkeypatch, space, gpus, asked, share, at_once):
    import ray

    node = {"CPU": 16.0, "GPU": float(gpus)}
    monkeypatch.setattr(ray, "cluster_resources", lambda: node)
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "Resources": node}])
    run = RunConfig(space=space, gpus_per_trial=asked)
    plan = with_resources(run, Plan(10, grace_period=1, rungs=(1,)), get_space(space).gpu_share)
    assert (plan.gpus_per_trial, plan.max_concurrent) == (share, at_once)


def test_missing_data_offline_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cifar10, "URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    args = ["--space", "cifar_lt200k", "--data-dir", str(tmp_path / "nowhere")]
    assert main([*args, "--storage", str(tmp_path / "exp")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert f"CIFAR-10 not found in {tmp_path / 'nowhere' / 'cifar-10-batches-py'}" in err[0]


def test_existing_experiment_is_never_overwritten(tmp_path, synthetic_cifar, capsys):
    (tmp_path / "exp" / "taken").mkdir(parents=True)
    (tmp_path / "exp" / "taken" / "run.json").write_text('{"space": "cifar_lt200k"}')
    args = ["--space", "cifar_lt200k", "--data-dir", str(synthetic_cifar), "--name", "taken"]
    assert main([*args, "--storage", str(tmp_path / "exp")]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_search(smoke_experiment):
    experiment, done = smoke_experiment
    assert "Best trial" in done.stdout and "test_acc" in done.stdout
    # The next steps, with the interpreter as the user ran it (.venv/bin/python from the clone).
    steps = done.stdout[done.stdout.index("\nNext:\n") :].splitlines()[2:5]
    report = experiment / "reports" / "report.html"
    assert [line.split("  #")[0] for line in steps] == [
        f"  open {report}",
        f"  {command('nas.refit', str(experiment), cwd=REPO)}",
        f"  {command('nas.predict', str(experiment), cwd=REPO)}",
    ]
    assert command("nas.refit", "x", cwd=REPO).startswith(".venv/bin/python -m nas.refit")

    summary = json.loads((experiment / "summary.json").read_text())
    trials = pd.read_csv(experiment / "reports" / "ablations.csv")
    ran = trials[trials["State"] != "rejected"]
    assert summary["trials"] == len(ran) == 6
    assert (ran["epochs"] < 3).sum() >= 1  # ASHA stopped at least one early
    assert summary["stopped_early"] == (ran["State"] == "stopped early by ASHA").sum()
    assert summary["stopped_early"] == (ran["epochs"] < 3).sum()
    assert summary["finished"] == (ran["epochs"] == 3).sum() >= 1
    assert 197_392 in set(ran["params"])  # the seed preset ran
    finished = ran[ran["epochs"] == 3]
    assert summary["best"]["val_acc"] == finished["val_acc"].max()  # at equal epochs
    reported = best_trial(load_experiment(str(experiment)))["Name"]  # the reports' best: the same
    assert reported == f"trial_{summary['best']['trial_id']}"
    assert 0 <= summary["best"]["test_acc"] <= 1
    # The seed preset ran every epoch and the end of the run compares the best trial with it.
    assert summary["seed"]["params"] == 197_392 and summary["seed"]["epochs"] == 3
    assert 0 <= summary["seed"]["test_acc"] <= 1
    if summary["best"]["trial_id"] == summary["seed"]["trial_id"]:
        assert "The seed preset is the best trial" in done.stdout
    else:
        gain = (summary["best"]["test_acc"] - summary["seed"]["test_acc"]) * 100
        assert summary["gain_over_seed"]["test_acc"] == round(gain, 2)
        assert f"({gain:+.2f} points)" in done.stdout
    log = experiment / "rejected.jsonl"
    rejected = len(log.read_text().splitlines()) if log.exists() else 0
    assert summary["rejected"] == rejected == (trials["State"] == "rejected").sum()
    for trial_dir in experiment.glob("trial_*"):
        lines = (trial_dir / "result.json").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == list(range(1, len(lines) + 1))
        assert list(trial_dir.glob("checkpoint_*/model.pt"))
    for path in summary["reports"]:
        assert path in done.stdout and (experiment / "reports" / path.rsplit("/", 1)[1]).exists()
    assert_study_matches_the_trials(experiment)
    assert "untold to the searcher" not in done.stdout  # told as it ran: nothing to mend
    assert summary["importance"]["top"] in done.stdout  # 6 trials: too few, and it says so
    assert summary["importance"]["top"].startswith("No importance yet: 6 trials at most")
    # The console: Ray's status table is gone; the last progress line counts what the summary
    # counts, and the end says what early stopping saved.
    assert "== Status ==" not in done.stdout and "Token authentication" not in done.stderr
    last = [line for line in done.stdout.splitlines() if "trials ended" in line][-1]
    assert (
        f"6 of 6 trials ended ({summary['finished']} ran every epoch, {summary['stopped_early']} "
        f"stopped early by ASHA, 0 failed), 0 running or waiting; {int(ran['epochs'].sum())} "
        "epochs trained"
    ) in last
    assert summary["epochs_trained"] == ran["epochs"].sum() < 18
    # run.json: the flags as given, and once what the driver derived from them.
    record = json.loads((experiment / "run.json").read_text())
    assert record["plan"] == {
        "num_classes": 10,
        "grace_period": 1,
        "rungs": [1],
        "gpus_per_trial": 0.0,
        "max_concurrent": record["device"]["cluster_cpus"],
    }
    assert (record["options"]["max_concurrent"], record["options"]["gpus_per_trial"]) == (
        None,
    ) * 2
    assert "num_classes" not in record["options"] and "asked" not in record
    assert epochs_sentence(json.loads((experiment / "summary.json").read_text())) in done.stdout
    assert f"Epochs trained: {int(ran['epochs'].sum())} by the 6 trials that ran" in done.stdout


@pytest.mark.slow
def test_resuming_a_complete_experiment_says_so_and_changes_nothing(smoke_experiment, tmp_path):
    experiment = shutil.copytree(smoke_experiment[0], tmp_path / "e2e")
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in experiment.rglob("*")}
    done = run_module("nas.run", "--storage", str(tmp_path), "--name", "e2e", "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    refit = command("nas.refit", str(experiment), cwd=REPO)
    assert done.stdout.strip() == (
        f"Experiment 'e2e' is complete (6 trials): nothing to resume, nothing changed; its "
        f"results are in {experiment}/summary.json. To search more, add --num-samples above 6; "
        f"to train its winners again over seeds: {refit}."
    )
    assert {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in experiment.rglob("*")} == before
    # Its study damaged since: not complete, so that the resume rebuilds it (driver.study_file).
    from nas.run import completed, config_of, parser

    config = config_of(
        parser().parse_args(["--storage", str(tmp_path), "--name", "e2e", "--resume"])
    )
    assert completed(config).startswith("Experiment 'e2e' is complete")
    (experiment / "study.journal").write_bytes(b"")
    assert completed(config) is None


def test_the_first_rung_moves_on_small_data_and_the_header_says_why(synthetic_cifar):
    from driver.config import RunConfig
    from driver.plan import asha_line, plan_search
    from search_spaces.cifar_lt200k import SPACE

    flags = {
        "space": SPACE.name,
        "data_dir": str(synthetic_cifar),
        "max_epochs": 30,
        "reduction_factor": 3,
    }
    run = RunConfig(**flags, grace_period=1, min_rung_steps=100)
    plan, why = plan_search(run, SPACE, 10)  # 230 images: one step per epoch at batch 256
    assert (plan.num_classes, plan.grace_period, plan.rungs, run.grace_period) == (10, 30, (), 1)
    assert asha_line(run, plan, why) == (
        "ASHA stops no trial in this search (--grace-period 1 asked; no rung comes before the "
        "last epoch because an epoch of 230 images is 1 optimizer step at batch 256, and "
        "every batch size takes 100 steps before a trial can be stopped (--min-rung-steps); to "
        "let ASHA stop trials at epoch 10, give --min-rung-steps 10)."
    )
    # The grace period asked is the last epoch (a small search of one's own): why, and the fix.
    run = RunConfig(**{**flags, "max_epochs": 3}, grace_period=3, min_rung_steps=100)
    plan, why = plan_search(run, SPACE, 10)
    assert asha_line(run, plan, why) == (
        "ASHA stops no trial in this search (--grace-period 3 is its last epoch; an epoch of 230 "
        "images is 1 optimizer step at batch 256, and every batch size takes 100 steps before a "
        "trial can be stopped (--min-rung-steps); to let ASHA stop trials at epoch 1, give "
        "--grace-period 1 --min-rung-steps 1)."
    )
    run = RunConfig(**{**flags, "max_epochs": 1}, grace_period=1, min_rung_steps=0)
    assert asha_line(run, *plan_search(run, SPACE, 10)).endswith(
        "a trial of one epoch has no rung before its last: give --max-epochs 2 or more)."
    )
    run = RunConfig(**flags, grace_period=1, min_rung_steps=4)
    plan, why = plan_search(run, SPACE, 10)
    assert (plan.grace_period, plan.rungs) == (4, (4, 12))
    assert asha_line(run, plan, why).startswith(
        "ASHA may stop a trial at epochs 4, 12, keeping the best 1/3 of the trials at each rung "
        "(--grace-period 1 asked; the first rung is at epoch 4 because an epoch "
    )
    run = RunConfig(**{**flags, "max_epochs": 10}, grace_period=4, min_rung_steps=4)
    plan, why = plan_search(run, SPACE, 10)
    assert plan.grace_period == run.grace_period == 4
    assert asha_line(run, plan, why) == (
        "ASHA may stop a trial at epoch 4, keeping the best 1/3 of the trials at each rung (an "
        "epoch of 230 images is 1 optimizer step at batch 256, and every batch size takes 4 "
        "steps before a trial can be stopped (--min-rung-steps): a rung at epoch 4 is allowed)."
    )
    run = RunConfig(**{**flags, "max_epochs": 20}, grace_period=2, min_rung_steps=0)
    assert asha_line(run, plan_search(run, SPACE, 10)[0], "") == (
        "ASHA may stop a trial at epochs 2, 6, 18, keeping the best 1/3 of the trials at each "
        "rung."
    )


def test_face_layout_error_from_the_command_line(tmp_path):
    faces = write_synthetic_hw2p2(tmp_path / "faces")
    shutil.rmtree(faces / "verification" / "unknown_dev")
    flags = ["--space", "hw2p2_resnet", "--data-dir", str(faces), "--storage", str(tmp_path)]
    done = run_module("nas.run", *flags, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"nas.run: error: HW2P2 data: {faces / 'verification' / 'unknown_dev'} is missing; "
        "expected a flat folder of images."
    )


def test_an_address_with_no_cluster_fails_in_seconds(tmp_path, synthetic_cifar, capsys):
    flags = ["--space", "cifar_lt200k", "--data-dir", str(synthetic_cifar)]
    assert main([*flags, "--storage", str(tmp_path), "--address", "127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "nas.run: error: no Ray cluster answers at --address 127.0.0.1:1 (Connection refused): "
        "start a head node there with `ray start --head --port=1`, or leave out --address to "
        "start Ray on this machine."
    )
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_early_stoppings_saving_counts_only_the_trials_asha_ran_or_stopped():
    from experiment.trials import FAILED, FINISHED, REJECTED, RUNNING, STOPPED
    from nas.outcome import epochs_by_the_schedule, epochs_sentence

    states = [FINISHED, STOPPED, FAILED, RUNNING, REJECTED]
    trials = pd.DataFrame({"State": states, "epochs": [6, 2, 1, 3, None]})
    assert epochs_by_the_schedule(trials) == 8  # failed and unfinished epochs are no saving
    # Every trial failed (or was interrupted) before its first epoch: no epochs column at all.
    assert epochs_by_the_schedule(pd.DataFrame({"State": [FAILED, REJECTED]})) == 0
    summary = {"epochs_trained": 8, "finished": 1, "stopped_early": 1, "max_epochs": 6}
    assert epochs_sentence(summary) == (
        "Epochs trained: 8 by the 2 trials that ran to the end or were stopped early; without "
        "early stopping, 12 (6 epochs each): 33% fewer."
    )
    assert epochs_sentence({**summary, "epochs_trained": 12}) == (
        "Epochs trained: 12 by the 2 trials that ran; early stopping saved none."
    )
    assert epochs_sentence({**summary, "epochs_trained": None}) == "Epochs trained: not recorded."


def test_a_checkpoint_damaged_since_is_not_scored_and_says_so(smoke_experiment, tmp_path, capsys):
    """A model file replaced since its trial wrote it (torch refuses it): the summary is still
    written, that trial unscored on the test split, one line naming the checkpoint."""
    import ray.tune

    from nas.outcome import trial_summary

    experiment = shutil.copytree(smoke_experiment[0], tmp_path / "e2e")
    results = load_experiment(str(experiment))
    row = best_trial(results)
    (folder,) = (experiment / row["Name"]).glob("checkpoint_*")
    (folder / "model.pt").write_bytes(b"\x80\x04not a model")
    config = RunConfig(**results.run["options"])
    checkpoint = ray.tune.Checkpoint.from_directory(str(folder))

    summary = trial_summary(row, config.search_space(), config, {row["trial_id"]: checkpoint})
    assert pd.isna(summary["test_acc"]) and summary["epochs"] == row["epochs"]
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{folder} does not load (") and line.endswith(
        f"): trial {row['trial_id']} is not scored on the test split."
    )
