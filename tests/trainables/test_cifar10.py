from __future__ import annotations

import numpy as np
import pytest

from trainables.data import DataError, cifar10
from trainables.data.augment import ChannelStats, cifar_train_transform
from trainables.data.cifar10 import load_cifar10, read_batch, train_val_split, write_batch


def test_reads_the_shared_subset(shared_cifar):
    data = load_cifar10(shared_cifar, download=False)
    assert data.train.images.shape == (4153, 32, 32, 3)
    assert data.test.images.shape == (1017, 32, 32, 3)
    assert data.train.images.dtype == np.uint8
    assert set(np.unique(data.train.labels)) == set(range(10))
    assert data.classes[0] == "airplane" and len(data.classes) == 10
    # Real photos: channel means near CIFAR-10's published (125, 123, 114).
    mean = ChannelStats.of(data.train.images).mean
    assert np.allclose(mean, (125.3, 123.0, 113.9), atol=4)


def test_any_number_of_images_per_file(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 37)
    write_batch(tmp_path / "data_batch_1", images, labels)
    read = read_batch(tmp_path / "data_batch_1")
    assert np.array_equal(read.images, images) and np.array_equal(read.labels, labels)


def test_channel_planes_are_decoded_row_major(tmp_path):
    import pickle

    data = np.zeros((1, 3072), dtype=np.uint8)
    data[0, 0] = 200  # red plane, pixel (0, 0)
    data[0, 1024 + 33] = 100  # green plane, pixel (1, 1)
    with open(tmp_path / "b", "wb") as f:
        pickle.dump({"data": data, "labels": [3]}, f)
    image = read_batch(tmp_path / "b").images[0]
    assert image[0, 0].tolist() == [200, 0, 0] and image[1, 1].tolist() == [0, 100, 0]


def test_offline_error_names_the_folder_and_files(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(DataError) as e:
        load_cifar10(tmp_path / "data")
    message = str(e.value)
    assert str(tmp_path / "data" / "cifar-10-batches-py") in message
    assert "data_batch_1" in message and "test_batch" in message and "--data-dir" in message
    assert not (tmp_path / "data").exists()  # nothing half-made is left behind


def test_corrupt_download_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "fake.tar.gz"
    archive.write_bytes(b"not the archive")
    with pytest.raises(DataError, match="is corrupt"):
        cifar10.fetch_cifar10(tmp_path / "data", url=archive.as_uri())


def test_validation_split_is_fixed_and_disjoint():
    train, val = train_val_split(1000, 0.1, seed=0)
    assert len(val) == 100 and len(train) == 900 and not set(train) & set(val)
    assert np.array_equal(val, train_val_split(1000, 0.1, seed=0)[1])


def test_augmentation_holes_are_16px_and_filled_with_the_mean():
    image = np.full((32, 32, 3), 250, dtype=np.uint8)
    stats = ChannelStats(mean=(120.0, 110.0, 100.0), std=(60.0, 60.0, 60.0))
    transform = cifar_train_transform(stats, shift=0.0, scale=0.0, rotate=0.0)
    transform.set_random_seed(0)
    with_hole = 0
    for _ in range(200):
        out = transform(image=image)["image"]
        mean_filled = np.all(np.abs(out) < 1e-5, axis=2)  # (mean - mean) / std == 0
        if mean_filled.any():
            with_hole += 1
            rows, cols = np.nonzero(mean_filled)
            assert mean_filled.sum() == 256  # one whole 16x16 hole inside the image
            assert rows.max() - rows.min() == cols.max() - cols.min() == 15
        else:
            assert np.allclose(out[..., 0], (250 - 120) / 60)
    assert 70 < with_hole < 130  # p = 0.5
