from __future__ import annotations

import pickle

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


def _archive(tmp_path, synthetic_cifar) -> str:
    """A tar.gz laid out like the official one; its MD5 becomes the expected one."""
    import hashlib
    import tarfile

    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(synthetic_cifar / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive.as_uri(), hashlib.md5(archive.read_bytes()).hexdigest()


FETCH = """
import sys
from trainables.data import cifar10
cifar10.URL, cifar10.MD5 = sys.argv[1], sys.argv[2]
data = cifar10.load_cifar10(sys.argv[3])
print("images", len(data.train.labels))
"""


def test_concurrent_trials_download_once_and_see_a_whole_folder(
    tmp_path, synthetic_cifar, monkeypatch
):
    import subprocess
    import sys

    url, md5 = _archive(tmp_path, synthetic_cifar)
    target = tmp_path / "fresh"
    # Slow the copy down so the two processes overlap while one downloads.
    script = "import time, shutil\n_copy = shutil.copyfileobj\n"
    script += "shutil.copyfileobj = lambda *a, **k: (time.sleep(1.5), _copy(*a, **k))\n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script + FETCH, url, md5, str(target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert sum(out.count("downloading") for out in outputs) == 1  # the others waited
    assert all(out.strip().endswith("images 256") for out in outputs)
    assert sorted(p.name for p in target.iterdir()) == ["cifar-10-batches-py"]  # no leftovers


def test_a_subset_is_accepted_and_described(synthetic_cifar):
    data = load_cifar10(synthetic_cifar, download=False)
    assert data.describe() == (
        f"CIFAR-10 in {synthetic_cifar / 'cifar-10-batches-py'}: 2 of 5 training batch files "
        "(a subset), 256 training and 64 test images"
    )


def test_an_incomplete_folder_is_never_downloaded_over(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"half")
    with pytest.raises(DataError, match="is incomplete: it needs test_batch"):
        load_cifar10(tmp_path)
    assert [p.name for p in folder.iterdir()] == ["data_batch_1"]


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


def test_labels_outside_the_classes_name_the_file(tmp_path):
    from trainables.data.synthetic import write_synthetic_cifar10

    data_dir = write_synthetic_cifar10(tmp_path, n_train=64, n_test=16)
    batch = data_dir / "cifar-10-batches-py" / "data_batch_2"
    images = read_batch(batch).images
    write_batch(batch, images, np.r_[np.arange(len(images) - 2) % 10, 10, -1])
    with pytest.raises(DataError) as error:
        load_cifar10(data_dir)
    assert str(error.value) == (
        f"{batch} has 2 labels outside 0-9 (the first: 10): CIFAR-10 labels index its 10 "
        "classes; fix or replace the file."
    )


class Payload:
    """What a crafted batch file holds: an object rebuilt by calling a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_batch_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    batch = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "filenames": [Payload(marker)]}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))

    with pytest.raises(DataError) as refused:
        read_batch(path)

    assert str(refused.value) == (
        f"{path} is not a readable CIFAR-10 batch file (it asks to run posix.system, which a "
        "CIFAR-10 batch file never holds; nothing in it was run): replace it with the file from "
        "the official archive."
    )
    assert not marker.exists()


def test_batch_files_of_every_pickle_protocol_read_alike(tmp_path):
    images = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    for protocol in (2, 3, 4, 5):
        data = images.transpose(0, 3, 1, 2).reshape(2, -1)
        path = tmp_path / f"batch_{protocol}"
        path.write_bytes(pickle.dumps({"data": data, "labels": [3, 7]}, protocol=protocol))
        read = read_batch(path)
        assert (read.images == images).all() and read.labels.tolist() == [3, 7]
