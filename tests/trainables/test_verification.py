"""Verification: each unknown face takes the identity of its most similar gallery face, or, in
an open-set layout (some unknowns labelled n000000), no one's below a threshold; in a pair
layout, each pair's similarity is scored by ROC AUC and equal error rate."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch

from search_spaces.hw2p2_resnet import SEED
from trainables.data import DataError
from trainables.data.augment import ChannelStats
from trainables.data.hw2p2 import validate_layout
from trainables.data.synthetic import write_synthetic_hw2p2
from trainables.tasks import get_task
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


# A small network of the face space: verification, not ResNet-50, is under test.
SMALL = {**SEED, **{f"blocks_{i}": 1 for i in range(4)}, "width": 16, "expansion": 2}


def one_epoch_trial(faces, tmp_path):
    """``SMALL`` trained one epoch at 32 px on ``faces``: (run, trial, report)."""
    from driver.config import RunConfig
    from trainables.trial import Trial, TrialJob

    run = RunConfig(
        space="hw2p2_resnet", name="x", storage=str(tmp_path), data_dir=str(faces),
        num_samples=1, max_epochs=1, grace_period=1, reduction_factor=2, input_size=32,
    )  # fmt: skip
    trial = Trial({**SMALL, "seed": 0}, TrialJob(run.search_space(num_classes=6), run))
    (report,) = trial.epochs()
    return run, trial, report


def experiment_of(report, run, tmp_path) -> str:
    """An experiment folder holding one trial (``report``: its one epoch), as nas.run writes."""

    experiment = tmp_path / "experiment"
    report.save(experiment / "trial_a" / "checkpoint_000000")
    result = {**report.metrics, "trial_id": "a", "training_iteration": 1, "time_total_s": 1.0}
    result |= {"timestamp": 0, "config": {**SMALL, "seed": 0}}
    (experiment / "trial_a" / "result.json").write_text(json.dumps(result) + "\n")
    record = {"space": "hw2p2_resnet", "options": dataclasses.asdict(run)}
    record["plan"] = {"num_classes": 6}
    (experiment / "run.json").write_text(json.dumps(record))
    return str(experiment)


def test_a_trial_on_an_open_set_layout_reports_its_threshold_and_checkpoints_it(tmp_path):
    from trainables.checkpoints import read_meta

    faces, _ = open_set_layout(tmp_path / "faces")
    run, trial, report = one_epoch_trial(faces, tmp_path)
    metrics = report.metrics
    assert 0.25 <= metrics["verify_acc"] <= 1  # at least calling everyone no one (2 of 8)
    assert isinstance(metrics["verify_threshold"], float)
    report.save(tmp_path / "checkpoint")  # nas.predict labels unknown_test with it
    assert (
        read_meta(tmp_path / "checkpoint")["metrics"]["verify_threshold"]
        == (metrics["verify_threshold"])
    )
    # nas.predict: each unknown_test image is its most similar known identity, or no one where
    # even that similarity is below the threshold.
    from nas.predict import predict
    from trainables.tasks import get_task

    stats, size = trial.data.stats, trial.spec.image_size
    known, names, unknown, ids = get_task("hw2p2").load_verification_test(str(faces), stats, size)
    unit = [
        torch.nn.functional.normalize(trial.training.embed(x), dim=1) for x in (unknown, known)
    ]
    best, index = (unit[0] @ unit[1].T).max(dim=1)  # the full matrix: a handful of images
    expected = [
        NO_ONE if s < metrics["verify_threshold"] else names[i]
        for s, i in zip(best.tolist(), index.tolist(), strict=True)
    ]
    lines = predict(experiment_of(report, run, tmp_path), None, tmp_path / "out")
    assert lines[-1].endswith(
        f"{len(ids)} images of verification/unknown_test, {expected.count(NO_ONE)} of no one known"
    )
    rows = list(csv.reader((tmp_path / "out" / "verification_submission.csv").open()))
    assert rows[1:] == [[i, label] for i, label in zip(ids, expected, strict=True)]


def test_pair_scores_on_a_hand_made_case():
    from trainables.verification import pair_scores

    # Same-person pairs at 0.9, 0.8 and 0.6; different at 0.7, 0.5, 0.4: 8 of the 9
    # (same, different) comparisons rank the same pair higher; accepting the top three pairs
    # wrongly accepts 1 of 3 and wrongly rejects 1 of 3.
    scores = pair_scores(
        torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), torch.tensor([1, 1, 0, 1, 0, 0])
    )
    assert scores == pytest.approx({"verify_acc": 2 / 3, "verify_auc": 8 / 9, "verify_eer": 1 / 3})
    ties = pair_scores(torch.full((4,), 0.5), torch.tensor([1, 0, 1, 0]))
    assert ties == pytest.approx({"verify_acc": 0.5, "verify_auc": 0.5, "verify_eer": 0.5})


def pair_layout(root):
    """The synthetic faces with pair files instead of a gallery (Spring 2024 on): unknown_dev
    image i is of identity 6 + i % 4, so i and i + 4 are one person."""
    import shutil

    faces = write_synthetic_hw2p2(root)
    ver = faces / "verification"
    shutil.rmtree(ver / "known")
    (ver / "dev_identities.csv").unlink()
    same = [f"unknown_dev/{i:03d}.jpg unknown_dev/{i + 4:03d}.jpg 1" for i in range(4)]
    other = [f"unknown_dev/{i:03d}.jpg unknown_dev/{(i + 1) % 4 + 4:03d}.jpg 0" for i in range(4)]
    other[0] = other[0].replace("unknown_dev/000", "verification/unknown_dev/000")  # root-relative
    (ver / "val_pairs.txt").write_text("\n".join(same + other) + "\n")
    test = [f"unknown_test/{i:03d}.jpg unknown_test/{7 - i:03d}.jpg" for i in range(4)]
    (ver / "test_pairs.txt").write_text("\n".join(test) + "\n")
    return faces


def test_a_pair_layout_is_read_from_its_files_and_each_line_checked(tmp_path):
    faces = pair_layout(tmp_path / "faces")
    layout = validate_layout(faces)
    ver = faces / "verification"
    assert (len(layout.pairs), len(layout.test_pairs), layout.known) == (8, 4, ())
    assert layout.pairs[4] == (ver / "unknown_dev/000.jpg", ver / "unknown_dev/005.jpg", False)
    assert [same for *_, same in layout.pairs] == [True] * 4 + [False] * 4
    pairs = ver / "val_pairs.txt"
    lines = pairs.read_text().splitlines()
    (tmp_path / "outside.jpg").write_bytes((ver / "unknown_dev/000.jpg").read_bytes())
    for bad, message in (
        (
            "unknown_dev/000.jpg unknown_dev/004.jpg 2",
            "line 3 is 'unknown_dev/000.jpg unknown_dev/004.jpg 2': expected IMAGE IMAGE 1 "
            "(one person) or IMAGE IMAGE 0.",
        ),
        (
            "unknown_dev/000.jpg gone.jpg 1",
            f"line 3 names gone.jpg, which is neither in {ver} nor in {faces}.",
        ),
        (
            "unknown_dev/000.jpg ../../outside.jpg 1",
            f"line 3 names ../../outside.jpg, outside the data folder {faces}: name images "
            f"relative to {ver} or {faces}.",
        ),
    ):
        pairs.write_text("\n".join([*lines[:2], bad, *lines[3:]]))
        with pytest.raises(DataError) as error:
            validate_layout(faces)
        assert str(error.value) == f"HW2P2 data: {pairs} {message}"
    pairs.write_text("\n".join(lines[:4]))
    with pytest.raises(DataError, match="all labelled the same"):
        validate_layout(faces)
    pairs.write_text("\n".join(lines))
    (ver / "test_pairs.txt").unlink()  # a layout may come without them; a submission cannot
    task, stats = get_task("hw2p2"), ChannelStats((128.0,) * 3, (64.0,) * 3)
    with pytest.raises(DataError) as error:
        task.load_verification_pairs(str(faces), stats, 32)
    assert str(error.value) == (
        f"HW2P2 data: {ver / 'test_pairs.txt'} is missing or lists no pair: nothing to write a "
        "verification submission for; add the test pairs, one 'IMAGE IMAGE' per line."
    )


def test_a_trial_on_a_pair_layout_reports_auc_and_eer(tmp_path):
    from nas.predict import predict
    from trainables.tasks import get_task
    from trainables.verification import pair_scores

    faces = pair_layout(tmp_path / "faces")
    run, trial, report = one_epoch_trial(faces, tmp_path)
    metrics = report.metrics
    assert 0 <= metrics["verify_auc"] <= 1 and 0 <= metrics["verify_eer"] <= 1
    assert metrics["verify_acc"] == pytest.approx(1 - metrics["verify_eer"])
    # The same figures from the pairs' similarities, computed apart from the trial.
    pairs = trial.data.verify
    similarity = pairs.similarities(trial.training.embed)
    assert pair_scores(similarity, pairs.same) == pytest.approx(
        {k: metrics[k] for k in ("verify_acc", "verify_auc", "verify_eer")}
    )
    size = trial.spec.image_size
    test = get_task("hw2p2").load_verification_pairs(str(faces), trial.data.stats, size)
    assert (len(test.first), test.same) == (4, None)
    # nas.predict on an experiment holding this trial: each test pair's similarity, by line.
    lines = predict(experiment_of(report, run, tmp_path), None, tmp_path / "out")
    assert lines[-1].endswith("cosine similarity of each of 4 test pairs")
    rows = list(csv.reader((tmp_path / "out" / "verification_submission.csv").open()))
    expected = test.similarities(trial.training.embed).tolist()
    assert rows[0] == ["id", "label"] and [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(expected, abs=1e-5)
