"""A Pareto search (``--objectives val_acc,params``) end to end: killed, resumed, reported."""

from __future__ import annotations

import json
import os
import signal

import openpyxl
import pandas as pd
import pytest

from experiment.journal import epochs, load_study
from tests.conftest import assert_study_matches_the_trials, run_module, start_nas_run
from tests.nas.test_resume_and_faults import epochs_of, wait_for


@pytest.mark.slow
def test_a_killed_pareto_search_resumes_and_its_study_holds_both_objectives(tmp_path):
    flags = "--smoke-test --objectives val_acc,params --num-samples 4 --max-epochs 2"
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
