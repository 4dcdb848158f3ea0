"""Reports from real and hand-made experiment folders: contents a user would open and check."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from experiment.results import load_experiment
from reports.export import export_to, main
from reports.tables import derive, headline
from search_spaces.cifar_lt200k import SEED
from searchers.rebuild import study_for_reports

SHEETS = ["Answer", "Trials", "Architectures", "Pareto", "Curves", "Best", "Run", "Importance"]
CHARTS = ["val_acc", "train_loss", "lr_schedule", "pareto", "parallel", "importance"]


def write_trial(folder: Path, trial_id: str, config: dict, accs: list[float], params=197_392):
    """A trial folder as Tune writes it: one result.json line per epoch."""
    folder.mkdir(parents=True)
    lines = []
    for epoch, acc in enumerate(accs, start=1):
        lines.append(
            {
                "trial_id": trial_id,
                "training_iteration": epoch,
                "epoch": epoch,
                "val_acc": acc,
                "train_loss": 2.0 - acc,
                "train_acc": acc,
                "val_loss": 2.1 - acc,
                "lr": 0.01,
                "epoch_seconds": 3.0,
                "params": params,
                "macs": 1_000_000,
                "receptive_field": 67,
                "timestamp": 1_790_000_000 + 10 * epoch,
                "time_this_iter_s": 10.0,
                "time_total_s": 10.0 * epoch,
                "config": config,
            }
        )
    (folder / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))


def write_state(experiment: Path, statuses: dict[str, tuple[str, str | None]]) -> None:
    """Tune's experiment_state file: trial id -> (status, error file name)."""
    trial_data = []
    for trial_id, (status, error) in statuses.items():
        trial = {"trial_id": trial_id, "status": status, "relative_logdir": f"trial_{trial_id}"}
        runtime = {"start_time": 1_790_000_000.0, "error_filename": error, "num_failures": 0}
        trial_data.append([json.dumps(trial), json.dumps(runtime)])
    state = {"trial_data": trial_data, "runner_data": {}, "stats": {}}
    (experiment / "experiment_state-2026-11-21_00-00-00.json").write_text(json.dumps(state))


@pytest.fixture
def handmade(tmp_path) -> Path:
    """Up to 3 epochs: one finished, one stopped by ASHA, one failed, one running, a rejection."""
    experiment = tmp_path / "exp"
    small = {**SEED, "width_1": 32, "seed": 2}
    write_trial(experiment / "trial_aaa", "aaa", {**SEED, "seed": 1}, [0.3, 0.4, 0.5])
    write_trial(experiment / "trial_bbb", "bbb", small, [0.2], params=150_000)
    write_trial(experiment / "trial_ccc", "ccc", {**SEED, "lr": 0.2, "seed": 3}, [0.1, 0.15])
    (experiment / "trial_ccc" / "error.txt").write_text(
        "Traceback (most recent call last):\n  ...\ntorch.OutOfMemoryError: CUDA out of memory.\n"
    )
    write_trial(experiment / "trial_ddd", "ddd", {**SEED, "lr": 0.01, "seed": 4}, [0.25, 0.45])
    write_state(
        experiment,
        {
            "aaa": ("TERMINATED", None),
            "bbb": ("TERMINATED", None),
            "ccc": ("ERROR", "error.txt"),
            "ddd": ("RUNNING", None),
        },
    )
    wide = {**SEED, "width_0": 96, "width_1": 96}
    rejected = {"number": 5, "reasons": ["261,000 params is not below 200,000"], "config": wide}
    (experiment / "rejected.jsonl").write_text(json.dumps(rejected) + "\n")
    run = {
        "command": "python -m nas.run --space cifar_lt200k",
        "space": "cifar_lt200k",
        "seed": 0,
        "options": {"max_epochs": 3},
        "versions": {"torch": "2.13.0"},
    }
    (experiment / "run.json").write_text(json.dumps(run))
    return experiment


def test_ablations_states_notes_and_values(handmade):
    export_to(str(handmade))
    table = pd.read_csv(handmade / "reports" / "ablations.csv")
    assert list(table.columns[:5]) == ["Name", "State", "Notes", "Created", "Runtime"]
    rows = table.set_index("Name")
    assert rows.loc["trial_aaa", "State"] == "finished"
    assert rows.loc["trial_bbb", "State"] == "stopped early by ASHA"
    assert rows.loc["trial_bbb", "Notes"] == "stopped at epoch 1 of 3"
    assert rows.loc["trial_ccc", "State"] == "failed"
    assert rows.loc["trial_ccc", "Notes"] == "torch.OutOfMemoryError: CUDA out of memory."
    assert rows.loc["trial_ddd", "State"] == "running"
    assert rows.loc["rejected_5", "State"] == "rejected"
    assert rows.loc["rejected_5", "Notes"] == "261,000 params is not below 200,000"
    assert rows.loc["rejected_5", "width_0"] == 96
    assert (
        rows.loc["trial_aaa", "val_acc"] == 0.5 and rows.loc["trial_ddd", "best_val_acc"] == 0.45
    )
    assert rows.loc["trial_aaa", "epochs"] == 3 and rows.loc["trial_aaa", "Runtime"] == 30.0
    assert rows.loc["trial_bbb", "width_1"] == 32 and rows.loc["trial_bbb", "seed"] == 2
    config_keys = list(table.columns[7 : table.columns.get_loc("epochs")])
    assert config_keys[:3] == ["depth", "stem_width", "width_0"] and "seed" not in config_keys


def test_every_report_leads_with_the_answer(handmade):
    """The best trial, its test accuracy (nas.run's summary), the seed preset marked; the
    trials best first in ablations.csv, the workbook and report.html."""
    summary = {"best": {"trial_id": "ddd", "test_acc": 0.41}, "seed": {"trial_id": "aaa"}}
    (handmade / "summary.json").write_text(json.dumps(summary))  # aaa had no test score
    export_to(str(handmade))
    table = pd.read_csv(handmade / "reports" / "ablations.csv")
    assert list(table.columns[5:7]) == ["is_seed_preset", "test_acc"]
    # Best first by the search's rule: aaa reached epoch 3 (0.5), ddd epoch 2; then the rest.
    assert list(table["Name"]) == [
        "trial_aaa",
        "trial_ddd",
        "trial_ccc",
        "trial_bbb",
        "rejected_5",
    ]
    assert list(table["is_seed_preset"]) == [True, False, False, False, False]  # {**SEED, seed}
    assert table.set_index("Name")["test_acc"].to_dict() == pytest.approx(
        {
            "trial_aaa": math.nan,
            "trial_ddd": 0.41,
            "trial_ccc": math.nan,
            "trial_bbb": math.nan,
            "rejected_5": math.nan,
        },
        nan_ok=True,
    )
    headline = [
        "Best trial trial_aaa: val_acc 0.5000 after 3 epochs, 197,392 params.",
        "It is the seed preset: the search found no better one in 4 trials.",
        "nas.predict uses the best trial, trial_aaa (no refit yet).",
    ]
    book = openpyxl.load_workbook(handmade / "reports" / "nas.xlsx")
    assert [row[0] for row in book["Answer"].iter_rows(values_only=True)] == headline
    page = (handmade / "reports" / "report.html").read_text()
    assert page.index(headline[0]) < page.index("<table")  # before anything else
    assert "<tr data-trial='trial_aaa' class='seed'>" in page
    header = re.search(r"<h2>Trials, best first</h2>.*?<tr>(.*?)</tr>", page, re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", header)[:7] == [
        "Name",
        "State",
        "is_seed_preset",
        "val_acc",
        "test_acc",
        "epochs",
        "params",
    ]


def test_the_answer_names_the_seed_presets_score(handmade):
    experiment = load_experiment(str(handmade))
    experiment.scores = {"aaa": 0.47, "ddd": 0.44}
    trials = experiment.trials
    seed = trials[trials["Name"] == "trial_ddd"].iloc[0]
    derived = derive(experiment)
    assert derived.headline[0] == (
        "Best trial trial_aaa: val_acc 0.5000 after 3 epochs, test_acc 0.4700, 197,392 params."
    )
    assert headline(experiment, derived.best, seed, None)[1] == (
        "Seed preset trial_ddd: val_acc 0.4500 after 2 epochs, test_acc 0.4400, 197,392 params. "
        "One training seed each: a difference here is not yet a measured gain; the refit "
        "measures it over paired seeds."
    )


def test_workbook_sheets_match_the_result_files(handmade):
    export_to(str(handmade))
    book = openpyxl.load_workbook(handmade / "reports" / "nas.xlsx")
    assert book.sheetnames == SHEETS
    trials = book["Trials"]
    csv = pd.read_csv(handmade / "reports" / "ablations.csv")
    assert [c.value for c in trials[1]] == list(csv.columns)
    assert trials.max_row == 1 + len(csv) == 6
    assert trials.freeze_panes == "B2" and trials.auto_filter.ref == trials.dimensions
    coloured = {str(r.sqref).split(":")[0] for r in trials.conditional_formatting}
    header = {c.value: c.column_letter for c in trials[1]}
    assert f"{header['val_acc']}2" in coloured and f"{header['best_val_acc']}2" in coloured
    names = [c.value for c in trials["A"][1:]]
    val_acc = [c.value for c in trials[header["val_acc"]][1:]]
    assert dict(zip(names, val_acc, strict=True))["trial_aaa"] == 0.5

    architectures = pd.DataFrame(book["Architectures"].values)
    header_row = list(architectures.iloc[0])
    arch = architectures[1:].set_axis(header_row, axis=1)
    assert arch["trials"].sum() == 4 and arch["rejected"].sum() == 1
    seed_row = arch[arch["params"] == 197_392].iloc[0]
    assert seed_row["trials"] == 3 and seed_row["best_val_acc"] == 0.5  # aaa, ccc, ddd

    pareto = book["Pareto"]
    assert pareto._charts, "the Pareto sheet embeds a scatter chart"
    front = [row for row in pareto.iter_rows(min_row=2, values_only=True) if row[3]]
    assert [r[0] for r in front] == ["trial_bbb", "trial_aaa"]

    curves = list(book["Curves"].iter_rows(min_row=2, values_only=True))
    assert len(curves) == 3 + 1 + 2 + 2  # every reported epoch

    best = list(book["Best"].iter_rows(values_only=True))
    assert ("trial", "trial_aaa") in [tuple(r[:2]) for r in best]
    assert ["Total params", None, None, 197_392] in [list(r) for r in best]
    run = dict(book["Run"].iter_rows(min_row=2, values_only=True))
    assert run["command"] == "python -m nas.run --space cifar_lt200k"
    assert run["versions.torch"] == "2.13.0"


def test_charts_pdf_has_a_page_per_chart(handmade):
    paths = export_to(str(handmade))
    pdf = (handmade / "reports" / "charts.pdf").read_bytes()
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == len(CHARTS)
    for chart in CHARTS:
        png = handmade / "reports" / f"{chart}.png"
        if chart == "importance":  # four trials: nothing to draw, and no empty axes written
            assert not png.exists() and str(png) not in paths
            continue
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in paths


def test_interrupted_experiment_without_saved_state(handmade):
    # A driver killed before Tune's first snapshot leaves results but no experiment_state.
    for state in handmade.glob("experiment_state-*.json"):
        state.unlink()
    shutil.rmtree(handmade / "trial_ccc")
    export_to(str(handmade), str(handmade / "out"))
    table = pd.read_csv(handmade / "out" / "ablations.csv").set_index("Name")
    assert table.loc["trial_aaa", "State"] == "finished"
    assert table.loc["trial_ddd", "State"] == "running"
    assert table.loc["trial_bbb", "State"] == "running"  # cannot tell a stop from a kill


@pytest.mark.slow
def test_export_of_a_real_search(smoke_experiment, tmp_path):
    experiment, _ = smoke_experiment
    assert main([str(experiment), "--out", str(tmp_path)]) == 0
    csv = pd.read_csv(tmp_path / "ablations.csv")
    results = {}
    for trial in experiment.glob("trial_*"):
        lines = [json.loads(x) for x in (trial / "result.json").read_text().splitlines()]
        results[trial.name] = lines
    ran = csv[csv["State"] != "rejected"].set_index("Name")
    assert set(ran.index) == set(results)
    for name, lines in results.items():
        assert ran.loc[name, "epochs"] == len(lines)
        assert ran.loc[name, "val_acc"] == pytest.approx(lines[-1]["val_acc"])
        assert ran.loc[name, "best_val_acc"] == pytest.approx(max(x["val_acc"] for x in lines))
        assert ran.loc[name, "seed"] == lines[0]["config"]["seed"]
    book = openpyxl.load_workbook(tmp_path / "nas.xlsx")
    assert book["Trials"].max_row == 1 + len(csv)
    run = dict(book["Run"].iter_rows(min_row=2, values_only=True))
    assert run["space"] == "cifar_lt200k" and run["scheduler.kind"] == "ASHA"
    assert run["git_commit"] is None or len(run["git_commit"]) == 40


def test_unknown_folder_is_one_sentence(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"reports.export: error: no experiment folder at {tmp_path / 'missing'}."
    )


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)"
)
def test_html_report_renders_in_chromium(handmade, tmp_path):
    export_to(str(handmade))
    page = handmade / "reports" / "report.html"
    # Opens offline: plotly's script is inlined, the page names nothing to fetch, and Chromium
    # below draws it with every connection sent to a dead proxy.
    text = page.read_text()
    assert all("src" not in tag for tag in re.findall(r"<script[^>]*>", text))
    assert "http" not in re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    # Every chart drew (plotly's SVG in each), and no script failed.
    assert re.search(r'<body[^>]*data-drawn="(\d+)"', dom).group(1) == str(len(CHARTS)), dom[:300]
    assert "data-errors" not in dom
    # Each trained trial is a line in four charts, with its state and config as its hover text.
    charts = json.loads(re.search(r'id="charts">(.*?)</script>', dom, re.S).group(1))
    lines = [
        trace
        for chart in charts
        for trace in chart["figure"]["data"]
        if trace.get("meta") == "trial_aaa" and "lines" in trace["mode"]
    ]
    assert len(lines) == 4
    assert all("trial_aaa (finished)<br>" in line["hovertext"] for line in lines)
    assert "lr = 0.05" in lines[0]["hovertext"]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, *flags, "--window-size=900,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    pixels = Image.open(shot).convert("RGB").getdata()
    coloured = sum(1 for p in pixels if max(p) - min(p) > 60)  # lines and dots, not text or grid
    assert coloured > 2000, f"the charts did not draw ({coloured} coloured pixels)"


def test_architectures_read_their_figures_and_rules_from_the_results(tmp_path):
    """Trained trials met the run's rules; a rejected candidate shows why it never ran."""
    from experiment.results import Experiment
    from reports.tables import architectures

    wide = {**SEED, "width_0": 64}
    trials = pd.DataFrame(
        [
            {"Name": "trial_a", "State": "finished", **{f"config/{k}": v for k, v in SEED.items()}}
            | {"params": 197_392, "macs": 1, "receptive_field": 77, "best_val_acc": 0.5},
            {
                "Name": "rejected_3",
                "State": "rejected",
                **{f"config/{k}": v for k, v in wide.items()},
            }
            | {"Notes": "212,000 params is not below 200,000", "params": 212_000},
        ]
    )
    run = {"space": "cifar_lt200k", "options": {"metric": "val_acc"}}
    table = architectures(Experiment(str(tmp_path), run, pd.DataFrame(), trials))
    assert table[["params", "rules", "trials", "rejected"]].values.tolist() == [
        [197_392, "met", 1, 0],
        [212_000, "212,000 params is not below 200,000", 0, 1],
    ]


def test_a_corrupt_run_json_is_one_sentence_and_the_rest_still_exports(handmade, capsys):
    from nas.predict import main as predict
    from nas.run import main as run

    record = handmade / "run.json"
    record.write_text(record.read_text()[:40])  # a write cut short
    assert main([str(handmade)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"reports.export: error: {record} is not valid JSON (")
    assert err.strip().endswith("): the reports leave out the run's settings.")
    assert (handmade / "reports" / "ablations.csv").exists() and "report.html" in out
    assert len(pd.read_csv(handmade / "reports" / "ablations.csv")) == 5  # 4 trials, 1 rejected

    assert predict([str(handmade)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nas.predict: error: {record} is not valid JSON (")
    assert err.endswith("): restore it to predict.") and "Traceback" not in err
    record.write_bytes(b"\x89PNG\r\n\x1a\n\x00")  # not even text
    storage = ["--storage", str(handmade.parent), "--name", handmade.name, "--resume"]
    assert run(storage) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nas.run: error: {record} is not valid JSON (")
    assert err.endswith("): restore it, or start a new --name.")


def test_result_lines_a_kill_cut_or_garbage_are_left_out_and_named(handmade, capsys):
    aaa = handmade / "trial_aaa" / "result.json"
    lines = aaa.read_text().splitlines(keepends=True)
    aaa.write_text(lines[0] + "#!garbage\n" + lines[1] + lines[2][:30])  # cut by a kill
    assert main([str(handmade)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == (
        f"reports.export: error: line 2 of {aaa} is not a Tune result: the reports leave it "
        "out; restore the file, or delete that line."
    )
    table = pd.read_csv(handmade / "reports" / "ablations.csv")
    assert len(table) == 5 and "report.html" in out  # every trial still reported
    aaa.write_text(lines[0] + lines[1] + lines[2][:30])  # the cut line alone: a kill's, no note
    assert main([str(handmade)]) == 0 and capsys.readouterr().err == ""


def test_a_garbage_line_in_rejected_jsonl_is_left_out_and_named(handmade, capsys):
    log = handmade / "rejected.jsonl"
    good = log.read_text()
    log.write_text(good + '{"number": 9}\n' + "\x00\x00garbage\n")
    assert main([str(handmade)]) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [
        f"reports.export: error: line {n} of {log} is not a rejected candidate: the reports "
        "leave it out; restore the file, or delete that line."
        for n in (2, 3)
    ]
    table = pd.read_csv(handmade / "reports" / "ablations.csv")
    assert len(table) == 5 and (table["State"] == "rejected").sum() == 1  # the good line kept


def test_an_empty_or_garbled_study_journal_is_rebuilt_from_the_logs_for_the_reports(
    handmade, capsys
):
    """The reports read a study rebuilt from the trials' logs, in memory: the damaged file is
    left as it is (a search may be writing it), and one sentence says so and how to mend it."""
    journal = handmade / "study.journal"
    for damaged, why in (
        ("", "it is empty"),
        ('{"op_code": 0, "worker_id": "w", "study_name": "x"}\n#!\n{}\n', "Optuna cannot read it"),
    ):
        journal.write_text(damaged)
        assert main([str(handmade)]) == 1
        out, err = capsys.readouterr()
        assert err == (
            f"reports.export: error: {journal}: {why}; the reports read a study rebuilt from "
            "the logs of 4 trial(s) and 1 rejected candidate(s); resume the search (nas.run "
            f"--storage {handmade.parent} --name {handmade.name} --resume) to write it back.\n"
        )
        assert "report.html" in out and journal.read_text() == damaged
    experiment = load_experiment(str(handmade))
    assert study_for_reports(experiment).startswith(f"{journal}: Optuna cannot read it;")
    trials = experiment.study.trials  # numbered by the trials' seeds 1-4, the rejected 5th
    assert [t.state.name for t in trials] == [
        "FAIL",
        "COMPLETE",
        "PRUNED",
        "FAIL",
        "RUNNING",
        "COMPLETE",
    ]
    assert [t.user_attrs.get("tune_trial_id") for t in trials] == [
        None,
        "aaa",
        "bbb",
        "ccc",
        "ddd",
        None,
    ]
    assert trials[1].intermediate_values == {1: 0.3, 2: 0.4, 3: 0.5} and trials[1].value == 0.5
    assert "rejected" in trials[5].user_attrs


def test_a_retried_trial_that_went_on_is_not_failed_and_lost_nodes_are_noted(tmp_path):
    experiment = tmp_path / "exp"
    write_trial(experiment / "trial_aaa", "aaa", {**SEED, "seed": 1}, [0.3, 0.4, 0.5])
    (experiment / "trial_aaa" / "error.txt").write_text("Failure # 1\nRuntimeError: flaky\n")
    write_trial(experiment / "trial_bbb", "bbb", {**SEED, "seed": 2}, [0.3, 0.4, 0.5])
    lost = {"time": 1.0, "after_epoch": 1, "node_id": "n1", "error": "The actor ... unavailable"}
    (experiment / "trial_bbb" / "node_lost.jsonl").write_text(json.dumps(lost) + "\n")
    write_trial(experiment / "trial_ccc", "ccc", {**SEED, "seed": 3}, [0.3])
    (experiment / "trial_ccc" / "node_lost.jsonl").write_text((json.dumps(lost) + "\n") * 4)
    (experiment / "trial_ccc" / "error.txt").write_text("Failure # 1\nActorDiedError: gone\n")
    write_state(
        experiment,
        {
            "aaa": ("TERMINATED", "error.txt"),
            "bbb": ("TERMINATED", "error.txt"),
            "ccc": ("ERROR", "error.txt"),
        },
    )
    rows = load_experiment(str(experiment)).trials.set_index("Name")
    assert rows.loc["trial_aaa", ["State", "Notes"]].tolist() == ["finished", ""]
    assert rows.loc["trial_bbb", ["State", "Notes", "nodes_lost"]].tolist() == [
        "finished",
        "node lost 1x, went on from its checkpoint",
        1,
    ]
    assert rows.loc["trial_ccc", ["State", "failure", "nodes_lost"]].tolist() == [
        "failed",
        "node_lost",
        4,
    ]


def test_a_result_json_that_is_a_folder_and_a_refit_json_without_its_fields_are_named(
    smoke_experiment, tmp_path, capsys
):
    experiment = shutil.copytree(smoke_experiment[0], tmp_path / "e2e")
    results = sorted(experiment.glob("trial_*/result.json"))[0]
    results.unlink()
    results.mkdir()
    record = experiment / "refit" / "refit.json"
    record.parent.mkdir()
    record.write_text('{"epochs": 1}')  # a hand edit: the score, candidates and seeds gone
    assert main([str(experiment)]) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [
        f"reports.export: error: {results} is a folder, not a trial's results: the reports "
        "leave that trial out; remove the folder.",
        f"reports.export: error: {record} cannot be read (KeyError: 'score'): the reports leave "
        "out the refit.",
    ]
    assert "report.html" in out


def test_the_command_prints_the_answer_before_the_paths(handmade, capsys):
    assert main([str(handmade)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "Best trial trial_aaa: val_acc 0.5000 after 3 epochs, 197,392 params.",
        "It is the seed preset: the search found no better one in 4 trials.",
        "nas.predict uses the best trial, trial_aaa (no refit yet).",
    ]
    assert out[3].endswith("ablations.csv") and out[-1].endswith("report.html")
