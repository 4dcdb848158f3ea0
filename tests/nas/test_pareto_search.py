"""A Pareto search (``--objectives val_acc,params``) end to end: killed, resumed, reported, its
front refit (``--refit-front``) and the network ``nas.predict`` then uses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

from experiment.journal import epochs, load_study
from tests.conftest import REPO, SMOKE, assert_study_matches_the_trials, run_module, start_nas_run
from tests.nas.test_resume_and_faults import epochs_of, wait_for
from trainables.data.synthetic import write_synthetic_cifar10


@pytest.mark.slow
def test_a_killed_pareto_search_resumes_and_its_study_holds_both_objectives(
    tmp_path, smoke_experiment
):
    flags = f"{SMOKE} --objectives val_acc,params --num-samples 4 --max-epochs 2"
    flags += " --refit-front 2 --refit-seeds 2"
    where = ["--storage", str(tmp_path), "--name", "p"]
    driver = start_nas_run(
        "--space", "cifar_lt200k", *flags.split(), "--grace-period", "1", *where, killable=True
    )
    experiment = tmp_path / "p"
    wait_for(lambda: sum(len(e) for e in epochs_of(experiment).values()) >= 3)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    done = run_module("nas.run", *where, "--resume", "--smoke-test")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    front = next(line for line in done.stdout.splitlines() if line.startswith("The front: "))
    assert "hypervolume" in front
    # The reports lead with the front too.
    assert front in (experiment / "reports" / "report.html").read_text()
    book = openpyxl.load_workbook(experiment / "reports" / "nas.xlsx")
    assert book["Answer"].cell(row=1, column=1).value == front
    header = [cell.value for cell in book["Pareto"][1]]
    assert header[:6] == ["Name", "params", "val_acc_at_rung", "on_front", "rank", "rung"]

    record = json.loads((experiment / "run.json").read_text())
    assert record["options"]["objectives"] == "val_acc,params"
    study = load_study(str(experiment))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert_study_matches_the_trials(experiment)  # by the epochs user attribute
    table = pd.read_csv(experiment / "reports" / "ablations.csv")
    ran = table[table["State"] != "rejected"].set_index("Name")
    assert len(ran) == 4 and set(ran["State"]) <= {"finished", "stopped early by ASHA"}
    for trial in study.trials:
        if trial.state.name == "COMPLETE" and "rejected" not in trial.user_attrs:
            row = ran.loc[f"trial_{trial.user_attrs['tune_trial_id']}"]
            assert trial.values == [pytest.approx(row["val_acc"]), row["params"]]
            assert epochs(trial)[2] == pytest.approx(row["val_acc"])

    # The front's refit: networks of the front, smallest first, beside the seed preset.
    refit = json.loads((experiment / "refit" / "refit.json").read_text())
    assert (refit["top"], refit["front"], len(refit["seeds"])) == (None, 2, 2)
    names = [c["name"] for c in refit["candidates"]]
    assert names[0] == "seed_preset" and names[1:] == [f"front_{i}" for i in range(1, len(names))]
    sheet = pd.read_excel(experiment / "reports" / "nas.xlsx", sheet_name="Pareto")
    on_front = set(sheet.loc[sheet["on_front"], "Name"])
    if len(on_front) < len(sheet):  # the chart fades the trials the front dominates
        assert "other trials (dominated)" in (experiment / "reports" / "report.html").read_text()
    trials = [c["search_trial"] for c in refit["candidates"][1:]]
    assert set(trials) <= on_front and len(trials) == min(2, len(on_front - {preset_name(refit)}))
    sizes = [c["params"] for c in refit["candidates"][1:]]
    assert sizes == sorted(sizes)
    # The pick, fixed before the refit: the smallest network within a point of the preset.
    assert refit["pick"] == expected_pick(sheet, refit)
    summary = json.loads((experiment / "summary.json").read_text())["refit"]
    rows = {c["configuration"]: c for c in summary["configurations"]}
    preset = rows["seed_preset"]
    for name in names[1:]:
        assert rows[name]["params_share"] == pytest.approx(rows[name]["params"] / preset["params"])
        assert rows[name]["call"] in ("beats", "no clear difference", "worse")
        assert rows[name]["verdict"].startswith(
            {"beats": "beats", "worse": "worse", "no clear difference": "no clear"}[
                rows[name]["call"]
            ]
        )
    assert summary["final_model"]["configuration"] == refit["pick"]
    assert f"Final model: {summary['final_model']['model']}, " in done.stdout
    data_dir = write_synthetic_cifar10(tmp_path / "data")
    predicted = run_module("nas.predict", str(experiment), "--data-dir", str(data_dir))
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    first = predicted.stdout.splitlines()[0]
    assert first.startswith(f"refit model {summary['final_model']['model']} (seed 0), ")
    if refit["pick"] == "seed_preset":
        assert "no smaller network on the search's front came within 1 point of it" in first
    else:
        assert "the smallest network on the search's front within 1 point of the seed" in first

    # bench/pareto_quality.py reads what the searches and the refit measured, trains nothing.
    kept = tmp_path / "kept"
    shutil.copytree(experiment, kept / "pareto-3")
    shutil.copytree(smoke_experiment[0], kept / "tpe-3")
    flags = f"--seeds 3 --front 2 --refit-seeds 2 --data-dir {data_dir} --keep {kept}"
    bench = [sys.executable, "bench/pareto_quality.py", *flags.split()]
    done = subprocess.run(bench, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    volumes = next(line for line in lines if line.startswith("front hypervolume"))
    budget = 200_000  # cifar_lt200k's parameter budget: one scale for both searches
    for folder, label in ((kept / "pareto-3", "Pareto search"), (kept / "tpe-3", "TPE")):
        table = pd.read_excel(folder / "reports" / "nas.xlsx", sheet_name="Pareto")
        on = table[table["on_front"]].sort_values("params")
        area, best = 0.0, 0.0
        for size, value, after in zip(
            on["params"], on["val_acc_at_rung"], [*on["params"][1:], budget], strict=True
        ):
            best = max(best, value)
            area += (after - size) / budget * best
        assert f"{label} {area:.4f}" in volumes
    shares = [
        rows[name]["params_share"]
        for name in names[1:]
        if rows[name]["call"] != "worse" and rows[name]["gain"] >= -1
    ]
    assert lines[-1] == f"smallest_within_noise_params_ratio: {min(shares, default=1.0):.3f}"


def preset_name(refit: dict) -> str | None:
    return refit["candidates"][0]["search_trial"]


def expected_pick(sheet: pd.DataFrame, refit: dict) -> str:
    """The refit's pick, worked out again from the Pareto sheet: of the trials scored at the
    seed preset's epoch, the smallest one within a point of it and smaller than it."""
    preset = sheet[sheet["Name"] == preset_name(refit)].iloc[0]
    alike = sheet[(sheet["rung"] == preset["rung"]) & (sheet["Name"] != preset["Name"])]
    near = alike[
        (alike["val_acc_at_rung"] >= preset["val_acc_at_rung"] - 0.01)
        & (alike["params"] < preset["params"])
    ]
    if near.empty:
        return "seed_preset"
    smallest = near.loc[near["params"].idxmin(), "Name"]
    return next(c["name"] for c in refit["candidates"] if c["search_trial"] == smallest)
