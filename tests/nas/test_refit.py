"""``nas.refit`` and ``nas.run --refit-top``: the winners trained again over seeds, the paired
gain, Kendall's tau, resume after a kill, nas.predict's choice, and the bad inputs."""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import openpyxl
import pandas as pd
import pytest
from scipy import stats

from driver.config import RunConfig
from experiment.results import load_experiment
from nas.candidates import pick_candidates
from nas.cli import command
from nas.refit import main as refit_main
from reports.ranking import ranking
from search_spaces import get_space
from tests.conftest import REPO, run_module
from trainables.data.cifar10 import load_cifar10
from trainables.data.synthetic import write_synthetic_cifar10
from trainables.trial import Trial, TrialJob


@pytest.mark.slow
def test_search_then_refit_in_one_command(refit_experiment):
    experiment, out = refit_experiment
    summary = json.loads((experiment / "summary.json").read_text())["refit"]
    names = ["seed_preset", "top_1", "top_2"]
    assert [c["configuration"] for c in summary["configurations"]] == names
    assert (summary["seeds"], summary["epochs"], summary["score"]) == ([0, 1], 2, "test_acc")
    assert (summary["models"], summary["finished"], summary["interrupted"]) == (6, 6, False)
    # The refit's first choices are the search's best distinct configurations after the preset.
    record = json.loads((experiment / "refit" / "refit.json").read_text())
    ranked = ranking(load_experiment(str(experiment)))
    by_name = {c["name"]: c for c in record["candidates"]}
    assert by_name["top_1"]["search_rank"] < by_name["top_2"]["search_rank"]
    top = ranked.iloc[by_name["top_1"]["search_rank"] - 1]
    assert by_name["top_1"]["search_trial"] == top["Name"]
    # Every model scored once, after its last epoch, on the test split.
    models = pd.read_csv(experiment / "reports" / "refit.csv")
    assert len(models) == 6 and set(models["State"]) == {"finished"}
    for name in models["Name"]:
        lines = (experiment / "refit" / name / "result.json").read_text().splitlines()
        first, last = json.loads(lines[0]), json.loads(lines[-1])
        assert "test_acc" not in first and "val_acc" not in first
        assert 0 <= last["test_acc"] <= 1 and last["training_iteration"] == 2
    # Mean, interval and the paired gain, recomputed from refit.csv.
    scores = models.pivot(index="seed", columns="configuration", values="test_acc")
    for c in summary["configurations"]:
        values = scores[c["configuration"]]
        assert c["mean_test_acc"] == pytest.approx(values.mean())
        half = stats.t.ppf(0.975, 1) * values.std() / 2**0.5
        assert c["ci95_high"] == pytest.approx(min(values.mean() + half, 1.0))  # an accuracy
        assert c["ci95_low"] == pytest.approx(max(values.mean() - half, 0.0))
        if c["configuration"] != "seed_preset":
            gain = (values - scores["seed_preset"]).mean() * 100
            assert c["gain"] == pytest.approx(gain)
            assert "seed-to-seed noise" in c["verdict"]
    search = pd.Series({c["configuration"]: c["search_rank"] for c in summary["configurations"]})
    refit = pd.Series({c["configuration"]: c["refit_rank"] for c in summary["configurations"]})
    tau = stats.kendalltau(search[names], refit[names]).statistic
    assert summary["kendall_tau"] == pytest.approx(tau)
    # Printed, and in the workbook and the report.
    assert "configuration  search rank" in out and f"Kendall's tau {tau:+.2f}" in out
    assert "nas.predict uses it" in out
    predict = command("nas.predict", str(experiment), cwd=REPO)  # the refit's final model's
    assert out.rstrip().endswith(
        f"  {predict}  # predictions of the refit's final model on the test split"
    )
    assert out.count("Next:") == 1 and "-m nas.refit" not in out.split("Next:")[1]  # refit done
    sheet = openpyxl.load_workbook(experiment / "reports" / "nas.xlsx")["Refit"]
    assert [row[0] for row in sheet.iter_rows(min_row=2, max_row=4, values_only=True)] == names
    report = (experiment / "reports" / "report.html").read_text()
    assert "Refit: the winners trained again" in report and "Search rank against refit" in report
    # One search's pick everywhere: the configuration the search ranked first, the one the
    # final model trains and nas.predict uses.
    by_rank = {c["search_rank"]: c for c in summary["configurations"] if c["search_rank"]}
    pick = by_rank[min(by_rank)]
    top_1 = next(c for c in summary["configurations"] if c["configuration"] == "top_1")
    if pick["configuration"] == "seed_preset":
        verdict = (
            "The search ranked the seed preset first: it is the search's pick; the best other "
            f"configuration (top_1): {top_1['verdict'].rstrip('.')}."
        )
    else:
        verdict = f"Refit of the search's pick (top_1): {top_1['verdict'].rstrip('.')}."
    final = summary["final_model"]
    assert final["configuration"] == pick["configuration"]
    assert f"Final model: {final['model']}, the search's pick ({pick['configuration']})" in out
    uses = (
        f"nas.predict uses {final['model']}: the search's pick ({pick['configuration']}), refit."
    )
    answer = openpyxl.load_workbook(experiment / "reports" / "nas.xlsx")["Answer"]
    for line in (verdict, uses):  # the answer, at the top of every report
        assert line in html.unescape(report)
        assert line in [row[0] for row in answer.iter_rows(values_only=True)]
    assert ".." not in verdict


@pytest.mark.slow
def test_a_refit_model_replays_on_all_training_images(refit_experiment, tmp_path):
    """No validation split held out, and the test split scored: rerun without Ray."""
    experiment, _ = refit_experiment
    record = json.loads((experiment / "run.json").read_text())
    data_dir = write_synthetic_cifar10(tmp_path / "data")  # the smoke test's data, rewritten
    search = RunConfig(**{**record["options"], "data_dir": str(data_dir)})
    refit = json.loads((experiment / "refit" / "refit.json").read_text())
    configs = {c["name"]: c["config"] for c in refit["candidates"]}
    run = RunConfig(**{**record["options"], "data_dir": str(data_dir), "max_epochs": 2})
    job = TrialJob(search.search_space(), run, refit=configs)
    trial = Trial({**configs["top_2"], "seed": 1}, job)
    cifar = load_cifar10(data_dir)
    assert len(trial.data.train) == len(cifar.train.labels[: search.train_images])
    assert trial.val_y.tolist() == cifar.test.labels.tolist()
    *_, last = trial.epochs()
    logged = (experiment / "refit" / "trial_top_2_seed1" / "result.json").read_text()
    logged = json.loads(logged.splitlines()[-1])
    assert last.metrics["test_acc"] == pytest.approx(logged["test_acc"])


@pytest.mark.slow
def test_predict_uses_the_searchs_pick_not_the_best_test_score(refit_experiment, tmp_path):
    """The final model is fixed before scores: top-ranked configuration, first refit seed."""
    experiment, _ = refit_experiment
    refit = json.loads((experiment / "summary.json").read_text())["refit"]
    final = refit["final_model"]
    ranks = {c["configuration"]: c["search_rank"] for c in refit["configurations"]}
    pick = min((r, name) for name, r in ranks.items() if r is not None)[1]
    assert (final["configuration"], final["seed"]) == (pick, refit["seeds"][0])
    assert final["model"] == f"trial_{pick}_seed{refit['seeds'][0]}"
    data_dir = write_synthetic_cifar10(tmp_path / "data")
    done = run_module(
        "nas.predict", str(experiment), "--data-dir", str(data_dir), "--out", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = done.stdout.strip().splitlines()
    assert first.startswith(
        f"refit model {final['model']}: the search's pick ({pick}) trained again for "
        f"{refit['epochs']} epochs on more data, seed {refit['seeds'][0]} (the first of the "
        f"refit's seeds), chosen before any score; its test_acc {final['test_acc']:.4f}"
    )
    assert second.endswith(f"test accuracy {final['test_acc']:.4f}")


@pytest.mark.slow
def test_a_killed_refit_resumes_and_a_damaged_summary_is_written_anew(smoke_experiment, tmp_path):
    experiment = shutil.copytree(smoke_experiment[0], tmp_path / "e2e")
    args = [str(experiment), "--top", "1", "--seeds", "2", "--epochs", "2", "--num-cpus", "2"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "nas.refit", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not any(
            len(p.read_text().splitlines()) >= 1 for p in experiment.glob("refit/*/result.json")
        ):
            assert time.monotonic() < deadline and driver.poll() is None, "no epoch logged"
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    (experiment / "summary.json").write_text('{"space": "cifar_lt2')  # damaged meanwhile
    journal = experiment / "study.journal"  # and the search's study, cut in the middle
    journal.write_bytes(cut := journal.read_bytes()[: journal.stat().st_size // 2])
    done = run_module("nas.refit", str(experiment), "--resume", "--num-cpus", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rebuilt = "; the reports read a study rebuilt from the logs of "  # for the importance
    line = next(ln for ln in done.stdout.splitlines() if rebuilt in ln)
    assert line.startswith(f"{journal}: "), line
    assert journal.read_bytes() == cut  # left as it is
    assert f"{experiment}/summary.json could not be read (" in done.stdout
    predict = command("nas.predict", str(experiment), cwd=REPO)
    assert done.stdout.rstrip().endswith(
        f"Next:\n  {predict}  # the final model's predictions on the test split"
    )
    assert (experiment / "summary.json.damaged").read_text() == '{"space": "cifar_lt2'
    summary = json.loads((experiment / "summary.json").read_text())["refit"]
    assert (summary["models"], summary["finished"]) == (4, 4)
    for result in experiment.glob("refit/trial_*/result.json"):
        epochs = [
            json.loads(line)["training_iteration"] for line in result.read_text().splitlines()
        ]
        assert epochs == [1, 2], result
    resumes = json.loads((experiment / "refit" / "refit.json").read_text())["resumes"]
    assert len(resumes) == 1 and resumes[0]["command"].endswith("--resume --num-cpus 2")


def test_top_larger_than_the_search_refits_what_there_is(smoke_experiment, capsys):
    experiment = load_experiment(str(smoke_experiment[0]))
    options = experiment.run["options"]
    space = RunConfig(**options).search_space()
    candidates = pick_candidates(experiment, space, top=50)
    distinct = len(candidates) - 1
    assert capsys.readouterr().out.strip() == (
        f"The search has {distinct} distinct configuration(s) besides the seed preset: "
        f"refitting {distinct}, not 50."
    )
    assert candidates[0]["name"] == "seed_preset"
    assert candidates[0]["config"] == {
        k: v for k, v in get_space("cifar_lt200k").presets["seed"].items() if k != "seed"
    }
    assert [c["name"] for c in candidates[1:]] == [f"top_{i}" for i in range(1, distinct + 1)]


def bad(capsys, *argv: str) -> str:
    assert refit_main(list(argv)) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err.strip()


def test_bad_refit_inputs(smoke_experiment, refit_experiment, tmp_path, capsys):
    experiment = shutil.copytree(smoke_experiment[0], tmp_path / "e2e")
    where = str(experiment)
    assert (
        bad(capsys, where, "--epochs", "0")
        == "nas.refit: error: --epochs must be at least 1 (got 0)."
    )
    assert (
        bad(capsys, where, "--front", "0")
        == "nas.refit: error: --front must be at least 1 (got 0)."
    )
    assert bad(capsys, where, "--front", "2") == (
        "nas.refit: error: --front refits a Pareto search's front; 'e2e' searched one objective "
        "(val_acc): refit its best with --top N."
    )
    assert bad(capsys, where, "--front", "2", "--top", "2") == (
        "nas.refit: error: --top and --front choose the refit's networks two ways: give one."
    )
    assert bad(capsys, str(tmp_path), "--seeds", "2").startswith(
        f"nas.refit: error: {tmp_path} is not an experiment folder (it has no run.json"
    )
    assert bad(capsys, where, "--resume") == (
        f"nas.refit: error: experiment 'e2e' has no refit to resume ({experiment / 'refit'} has "
        "no refit.json): leave out --resume to start one."
    )
    # A refit folder copied from another experiment is refused, and left as it was.
    shutil.copytree(refit_experiment[0] / "refit", experiment / "refit")
    before = (experiment / "refit" / "refit.json").read_bytes()
    err = bad(capsys, where)
    assert err.startswith(f"nas.refit: error: {experiment / 'refit'} holds the refit of another")
    assert err.endswith("move that folder away to refit this search.")
    assert (experiment / "refit" / "refit.json").read_bytes() == before
    (experiment / "refit" / "refit.json").write_text("{}")  # emptied: not another search's
    assert bad(capsys, where, "--resume") == (
        f"nas.refit: error: {experiment / 'refit' / 'refit.json'} is not a whole refit record "
        "(no search, score, top, seeds, epochs, candidates): restore it to refit."
    )
    shutil.rmtree(experiment / "refit")
    # The space's source changed since the search.
    record = json.loads((experiment / "run.json").read_text())
    (experiment / "run.json").write_text(json.dumps({**record, "space_fingerprint": "0" * 16}))
    err = bad(capsys, where)
    assert err.startswith("nas.refit: error: space cifar_lt200k changed since experiment 'e2e'")
    assert err.endswith("restore that file to refit this search, or search again.")
    # No trial with a score: nothing to refit.
    (experiment / "run.json").write_text(json.dumps(record))
    for folder in experiment.glob("trial_*"):
        shutil.rmtree(folder)
    for state in experiment.glob("experiment_state-*.json"):
        state.unlink()
    assert bad(capsys, where) == (
        "nas.refit: error: experiment 'e2e' has no trial with a val_acc yet: nothing to refit; "
        "run or resume the search first."
    )
    assert not (experiment / "refit").exists()


def test_a_second_refit_needs_resume(refit_experiment, tmp_path, capsys):
    experiment = shutil.copytree(refit_experiment[0], tmp_path / "won")
    before = (experiment / "refit" / "refit.json").read_bytes()
    assert bad(capsys, str(experiment)) == (
        f"nas.refit: error: experiment 'won' already has a refit in {experiment / 'refit'}: add "
        "--resume to continue it, or move that folder away to refit again."
    )
    assert bad(capsys, str(experiment), "--resume", "--seeds", "3") == (
        "nas.refit: error: the refit of 'won' was started with other settings: --seeds (was 2, "
        "now 3); resume without them, or move refit/ away to refit again."
    )
    assert (experiment / "refit" / "refit.json").read_bytes() == before


def test_a_configuration_stopped_mid_cycle_is_pointed_out():
    from nas.candidates import mid_cycle

    space = get_space("cifar_lt200k")
    preset = {k: v for k, v in space.presets["seed"].items() if k != "seed"}
    configs = {"seed_preset": {**preset, "t0": 10, "t_mult": 2}, "top_1": {**preset, "t_mult": 1}}
    assert mid_cycle(space, configs, 70) == []  # 10 + 20 + 40; and 7 cycles of 10
    assert mid_cycle(space, configs, 80) == [
        "note: seed_preset (t0 10, t_mult 2) is mid-cycle at epoch 80: it is scored before its "
        "learning rate comes down; its cycles end at epoch 70 or 150."
    ]
