"""The HW2P2 face layout: read, and refused in one sentence where it is broken."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trainables.data import DataError
from trainables.data.hw2p2 import validate_layout
from trainables.data.synthetic import write_synthetic_hw2p2


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
        (
            lambda r: (r / "verification/dev_identities.csv").write_bytes(b"\x89PNG\r\n\xff\xfe"),
            r"dev_identities.csv is not a CSV of id,label rows \('utf-8' codec",
        ),
        (
            lambda r: (r / "verification/dev_identities.csv").write_text("id,label\n"),
            "dev_identities.csv has no id,label rows: verification cannot be scored.",
        ),
        (
            lambda r: (r / "verification/dev_identities.csv").write_text("file;who\n1.jpg;n01\n"),
            "dev_identities.csv needs the columns id,label.",
        ),
    ],
)
def test_layout_errors_are_one_sentence(faces, damage, message):
    damage(faces)
    with pytest.raises(DataError, match=message):
        validate_layout(faces)
