"""``nas.predict``: the submission files of a search's best trial, CIFAR-10 and faces."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from nas.predict import main as predict
from reports.export import main as export
from tests.conftest import SHARED_DATA, read_only, run_module
from trainables.data.cifar10 import EXPECTED, load_cifar10
from trainables.data.hw2p2 import validate_layout
from trainables.data.synthetic import write_synthetic_cifar10

FACES = SHARED_DATA / "hw2p2-olivetti"


@pytest.mark.slow
def test_cifar_predictions_are_the_best_trials_on_the_test_batch(smoke_experiment, tmp_path):
    experiment = shutil.copytree(smoke_experiment[0], tmp_path / "e2e")
    summary = json.loads((experiment / "summary.json").read_text())
    best = experiment / f"trial_{summary['best']['trial_id']}"
    # A newer checkpoint folder a kill left half written is skipped, never loaded.
    (whole,) = best.glob("checkpoint_*")
    cut = shutil.copytree(whole, best / "checkpoint_999999")
    (cut / "model.pt").write_bytes((whole / "model.pt").read_bytes()[:1000])
    data_dir = write_synthetic_cifar10(tmp_path / "data")  # the smoke test's data, rewritten
    out = tmp_path / "predictions"
    done = run_module(
        "nas.predict", str(experiment), "--data-dir", str(data_dir), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    skipped, first, second = done.stdout.strip().splitlines()
    assert skipped == (
        f"skipped checkpoint_999999 of trial {best.name}: it does not load (RuntimeError), a "
        "write cut short"
    )
    assert first.startswith(
        f"best trial {best.name} (no refit yet: the search's pick, ranked first on validation; "
        f"nas.refit trains it again over seeds), checkpoint {whole.name} "
    )
    with open(out / "test_predictions.csv") as f:
        rows = list(csv.DictReader(f))
    test = load_cifar10(data_dir).test
    assert [r["id"] for r in rows] == [str(i) for i in range(len(test.labels))]
    classes = load_cifar10(data_dir).classes
    hits = sum(classes.index(r["label"]) == y for r, y in zip(rows, test.labels, strict=True))
    # The printed accuracy is the file's, and the one nas.run measured for the best trial.
    assert second == (
        f"{out / 'test_predictions.csv'}: {len(rows)} test images, "
        f"test accuracy {hits / len(rows):.4f}"
    )
    assert hits / len(rows) == pytest.approx(summary["best"]["test_acc"], abs=1e-6)


@pytest.mark.slow
def test_a_read_only_experiment_is_one_sentence_that_names_out(smoke_experiment, tmp_path, capsys):
    source = smoke_experiment[0]
    experiment = shutil.copytree(source, tmp_path / "e2e", ignore=lambda *_: {"reports"})
    data_dir = write_synthetic_cifar10(tmp_path / "data")
    with read_only(experiment):
        assert predict([str(experiment), "--data-dir", str(data_dir)]) == 1
        assert export([str(experiment)]) == 1
        reasons = ("Operation not permitted", "Permission denied")  # immutable (root); no w bit
        for line, prog, folder in zip(
            capsys.readouterr().err.splitlines(),
            ("nas.predict", "reports.export"),
            ("predictions", "reports"),
            strict=True,
        ):
            assert line in [
                f"{prog}: error: cannot write {experiment / folder} ({reason}): give --out a "
                "folder you can write to."
                for reason in reasons
            ], line
        out = ["--out", str(tmp_path / "elsewhere")]
        assert predict([str(experiment), "--data-dir", str(data_dir), *out]) == 0
        assert export([str(experiment), *out]) == 0
    assert (tmp_path / "elsewhere" / "test_predictions.csv").exists()
    assert (tmp_path / "elsewhere" / "report.html").exists()
    other = tmp_path / "faces"  # another data set's folder: nothing is downloaded into it
    other.mkdir()
    out = ["--out", str(tmp_path / "not made")]
    assert predict([str(experiment), "--data-dir", str(other), *out]) == 1
    assert capsys.readouterr().err == (
        f"nas.predict: error: CIFAR-10 not found in {other}: {other}/cifar-10-batches-py should "
        f"hold {EXPECTED}; give the folder that holds cifar-10-batches-py (nothing is "
        "downloaded here).\n"
    )
    assert not any(other.iterdir()) and not (tmp_path / "not made").exists()
    unchanged = {p.name for p in source.iterdir()} - {"reports"}
    assert {p.name for p in experiment.iterdir()} == unchanged


@pytest.mark.slow
def test_search_and_predictions_on_the_shared_faces(tmp_path):
    if not (FACES / "classification").is_dir():
        pytest.skip(f"real face set not found at {FACES}")
    flags = "--space hw2p2_resnet --num-samples 2 --max-epochs 1 --grace-period 1 "
    flags += "--input-size 64 --metric verify_acc --name faces"
    where = ["--data-dir", str(FACES), "--storage", str(tmp_path)]
    done = run_module("nas.run", *flags.split(), *where, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    experiment = tmp_path / "faces"
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["trials"] == 2 and summary["best"]["metric"] == "verify_acc"
    for trial in experiment.glob("trial_*"):
        for line in (trial / "result.json").read_text().splitlines():
            result = json.loads(line)
            assert 0 <= result["val_acc"] <= 1 and 0 <= result["verify_acc"] <= 1

    out = tmp_path / "predictions"
    predicted = run_module("nas.predict", str(experiment), "--out", str(out), timeout=300)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    layout = validate_layout(FACES)
    with open(out / "classification_submission.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [p.name for p in layout.test]  # one row per test image
    assert {r["label"] for r in rows} <= set(layout.identities)
    with open(out / "verification_submission.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [p.name for p in layout.unknown_test]
    assert {r["label"] for r in rows} <= {name for _, name in layout.known}
