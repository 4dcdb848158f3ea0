"""The face family, the HW2P2 layout checks, verification, and a search plus predictions."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import torchvision

from tests.conftest import SHARED_DATA, run_module
from trainables.data import DataError
from trainables.data.hw2p2 import validate_layout
from trainables.data.synthetic import write_synthetic_hw2p2
from trainables.models import create_model
from trainables.models.analysis import analyze
from trainables.models.convnext import ConvNeXtSpec
from trainables.models.resnet import ResNetSpec
from trainables.verification import verification_accuracy

FACES = SHARED_DATA / "hw2p2-olivetti"


def test_seed_preset_is_the_reference_network():
    assert analyze(ResNetSpec()).params == 37_877_528


def test_resnet50_without_biases_matches_torchvision():
    for classes in (1000, 7000):
        ours = analyze(ResNetSpec(conv_bias=False, num_classes=classes)).params
        theirs = sum(
            p.numel() for p in torchvision.models.resnet50(num_classes=classes).parameters()
        )
        assert ours == theirs


@pytest.mark.parametrize(
    "spec",
    [
        ResNetSpec(layers=(1, 1, 1, 1), widths=(8, 16, 32, 64)),
        ConvNeXtSpec(layers=(1, 1, 1, 1), widths=(8, 16, 32, 64)),
    ],
)
def test_any_input_size_and_the_feature_layer(spec):
    model = create_model(dataclasses.replace(spec, num_classes=5)).eval()
    for size in (40, 64, 97):
        x = torch.randn(2, 3, size, size)
        assert model(x).shape == (2, 5)
        features = model.forward_features(x)
        assert features.shape == (2, model.classifier.in_features)
        assert torch.allclose(model.classifier(features), model(x), atol=1e-5)


def test_verification_on_a_hand_made_case():
    known = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = ["alice", "bob", "carol"]
    # Cosine similarity ignores length: (5, 1) is alice, (0.1, 3) bob, (-2, -0.1) carol.
    unknown = torch.tensor([[5.0, 1.0], [0.1, 3.0], [-2.0, -0.1], [0.2, 2.0]])
    assert verification_accuracy(unknown, known, labels, ["alice", "bob", "carol", "bob"]) == 1.0
    assert verification_accuracy(unknown, known, labels, ["alice", "bob", "bob", "alice"]) == 0.5


@pytest.fixture
def faces(tmp_path) -> Path:
    return write_synthetic_hw2p2(tmp_path / "faces")


def test_layout_is_read(faces):
    layout = validate_layout(faces)
    assert len(layout.identities) == 6 and len(layout.train) == 48 and len(layout.dev) == 12
    assert len(layout.test) == 12 and len(layout.known) == 4 and len(layout.unknown_dev) == 8


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: shutil.rmtree(r / "verification" / "known"), "verification/known is missing"),
        (
            lambda r: [p.unlink() for p in (r / "classification/train/n000002").iterdir()],
            "identity folder .*classification/train/n000002 holds no images",
        ),
        (
            lambda r: (r / "classification/test/000003.jpg").write_bytes(b"not a jpeg"),
            "classification/test/000003.jpg is not a readable image",
        ),
        (
            lambda r: (r / "verification/unknown_dev/005.jpg").unlink(),
            "dev_identities.csv names 005.jpg, which does not exist",
        ),
    ],
)
def test_layout_errors_are_one_sentence(faces, damage, message):
    damage(faces)
    with pytest.raises(DataError, match=message):
        validate_layout(faces)


def test_layout_error_from_the_command_line(faces, tmp_path):
    shutil.rmtree(faces / "verification" / "unknown_dev")
    flags = ["--space", "hw2p2_resnet", "--data-dir", str(faces), "--storage", str(tmp_path)]
    done = run_module("nas.run", *flags, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"nas.run: error: HW2P2 data: {faces / 'verification' / 'unknown_dev'} is missing; "
        "expected a flat folder of images."
    )


@pytest.mark.slow
def test_search_and_predictions_on_the_shared_faces(tmp_path):
    if not (FACES / "classification").is_dir():
        pytest.skip(f"real face set not found at {FACES}")
    flags = "--space hw2p2_resnet --num-samples 3 --max-epochs 2 --grace-period 1 "
    flags += "--input-size 64 --metric verify_acc --name faces"
    where = ["--data-dir", str(FACES), "--storage", str(tmp_path)]
    done = run_module("nas.run", *flags.split(), *where, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    experiment = tmp_path / "faces"
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["trials"] == 3 and summary["best"]["metric"] == "verify_acc"
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
