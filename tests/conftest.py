from __future__ import annotations

from pathlib import Path

import pytest

from trainables.data.synthetic import write_synthetic_cifar10

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_cifar() -> Path:
    """The real CIFAR-10 subset beside the repository (skips where absent)."""
    if not (SHARED_DATA / "cifar-10-batches-py" / "test_batch").exists():
        pytest.skip(f"real CIFAR-10 subset not found at {SHARED_DATA}/cifar-10-batches-py")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_cifar(tmp_path_factory) -> Path:
    """A small synthetic data set in the real batch format."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("data"), n_train=256, n_test=64)
