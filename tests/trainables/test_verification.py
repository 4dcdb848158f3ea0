"""Verification: each unknown face takes the identity of its most similar gallery face, or, in
an open-set layout (some unknowns labelled n000000), no one's below a threshold."""

from __future__ import annotations

import csv

import pytest
import torch

from trainables.data import DataError
from trainables.data.hw2p2 import validate_layout
from trainables.data.synthetic import write_synthetic_hw2p2
from trainables.verification import (
    NO_ONE,
    identify,
    open_set_threshold,
    verification_scores,
)

KNOWN = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
LABELS = ["alice", "bob", "carol"]
# Cosine similarity ignores length: (5, 1) is alice, (0.1, 3) bob, (-2, -0.1) carol.
UNKNOWN = torch.tensor([[5.0, 1.0], [0.1, 3.0], [-2.0, -0.1], [0.2, 2.0]])


def test_verification_on_a_hand_made_case():
    truth = ["alice", "bob", "carol", "bob"]
    assert verification_scores(UNKNOWN, KNOWN, LABELS, truth) == {"verify_acc": 1.0}
    truth = ["alice", "bob", "bob", "alice"]
    assert verification_scores(UNKNOWN, KNOWN, LABELS, truth) == {"verify_acc": 0.5}


def test_an_open_set_is_scored_at_the_threshold_that_labels_it_best():
    # (1, 1) is 0.707 from alice and from bob: of no one, as its label says.
    unknown = torch.cat([UNKNOWN, torch.tensor([[1.0, 1.0]])])
    truth = ["alice", "bob", "carol", "bob", NO_ONE]
    scores = verification_scores(unknown, KNOWN, LABELS, truth)
    similarity = [0.981, 0.9994, 0.9988, 0.995, 0.7071]  # cos to the best match, by hand
    assert scores["verify_acc"] == 1.0  # all four known above, the stranger below
    assert scores["verify_threshold"] == pytest.approx(min(similarity[:4]), abs=1e-3)
    labelled = identify(unknown, KNOWN, LABELS, scores["verify_threshold"])
    assert labelled == truth
    assert identify(unknown, KNOWN, LABELS)[-1] == "alice"  # no threshold: closed set


def test_the_threshold_search_tries_every_cut_and_calling_everyone_no_one():
    similarity = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # Right when labelled: the 0.9 and 0.6 ones; no one: 0.8 and 0.7.
    correct, no_one = torch.tensor([1, 0, 0, 1]).bool(), torch.tensor([0, 1, 1, 0]).bool()
    assert open_set_threshold(similarity, correct, no_one) == (pytest.approx(0.9), 0.75)
    everyone = torch.tensor([0, 0, 0, 0]).bool(), torch.tensor([1, 1, 1, 0]).bool()
    assert open_set_threshold(similarity, *everyone) == (float("inf"), 0.75)


def open_set_layout(root):
    """The synthetic layout with its first two unknown_dev images relabelled no one."""
    faces = write_synthetic_hw2p2(root)
    table = faces / "verification" / "dev_identities.csv"
    rows = list(csv.reader(table.open()))
    rows[1][1] = rows[2][1] = NO_ONE
    csv.writer(table.open("w", newline="")).writerows(rows)
    return faces, rows


def test_a_layout_may_label_unknowns_no_one_but_no_other_stranger(tmp_path):
    faces, rows = open_set_layout(tmp_path / "faces")
    layout = validate_layout(faces)
    assert [t for _, t in layout.unknown_dev[:3]] == [NO_ONE, NO_ONE, rows[3][1]]
    rows[3][1] = "n999999"
    table = faces / "verification" / "dev_identities.csv"
    csv.writer(table.open("w", newline="")).writerows(rows)
    with pytest.raises(
        DataError,
        match=r"labels 002.jpg as n999999, which is not a folder of "
        r"verification/known \(nor n000000, no one in it\)",
    ):
        validate_layout(faces)


def test_a_trial_on_an_open_set_layout_reports_its_threshold_and_checkpoints_it(tmp_path):
    from nas.config import RunConfig
    from search_spaces.hw2p2_resnet import SEED
    from trainables.checkpoints import read_meta
    from trainables.trial import Trial, TrialJob

    faces, _ = open_set_layout(tmp_path / "faces")
    run = RunConfig(
        space="hw2p2_resnet", name="x", storage=str(tmp_path), data_dir=str(faces),
        num_samples=1, max_epochs=1, grace_period=1, reduction_factor=2, num_classes=6,
        input_size=32,
    )  # fmt: skip
    (report,) = Trial({**SEED, "seed": 0}, TrialJob(run.search_space(), run)).epochs()
    metrics = report.metrics
    assert 0.25 <= metrics["verify_acc"] <= 1  # at least calling everyone no one (2 of 8)
    assert isinstance(metrics["verify_threshold"], float)
    report.save(tmp_path / "checkpoint")  # nas.predict labels unknown_test with it
    assert (
        read_meta(tmp_path / "checkpoint")["metrics"]["verify_threshold"]
        == (metrics["verify_threshold"])
    )
