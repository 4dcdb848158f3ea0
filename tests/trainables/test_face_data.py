"""The face data path at scale: decoded once per node under a lock, uint8 at rest, augmented in
batches on the device, read in batches from the memory map."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch

from trainables.data import DataError, hw2p2
from trainables.data.augment import ChannelStats, face_train_transform
from trainables.data.batched import StreamedBatches
from trainables.data.face_augment import FaceAugment
from trainables.data.hw2p2 import load_images, validate_layout
from trainables.data.images import Images
from trainables.data.synthetic import write_synthetic_hw2p2
from trainables.tasks import get_task
from trainables.verification import match

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_synthetic_hw2p2(tmp_path_factory.mktemp("data") / "faces")


@pytest.fixture
def train_paths(faces) -> list[Path]:
    return [p for p, _ in validate_layout(faces).train]


def test_trials_asking_at_once_wait_for_one_decode(train_paths, tmp_path, monkeypatch):
    decodes, real = [], hw2p2._decode

    def slow_decode(*args):
        decodes.append(args)
        time.sleep(0.5)  # long enough that every other caller arrives during the build
        real(*args)

    monkeypatch.setattr(hw2p2, "_decode", slow_decode)
    found = [None] * 4

    def trial(i: int) -> None:
        found[i] = load_images(train_paths, 24, cache_dir=tmp_path)

    threads = [threading.Thread(target=trial, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(decodes) == 1
    assert all(isinstance(f, np.memmap) and f.dtype == np.uint8 for f in found)
    assert all(np.array_equal(f, found[0]) for f in found)
    assert found[0].shape == (48, 24, 24, 3)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".npy") == [
        hw2p2.cache_path(train_paths, 24, tmp_path).name
    ]


def test_a_pool_of_processes_decodes_the_same_pixels(train_paths, tmp_path):
    hw2p2.CHUNK, chunk = 8, hw2p2.CHUNK  # six chunks for two processes
    try:
        pooled = load_images(train_paths, 20, cache_dir=tmp_path / "pool", workers=2)
    finally:
        hw2p2.CHUNK = chunk
    alone = load_images(train_paths, 20, cache_dir=tmp_path / "alone", workers=1)
    assert np.array_equal(pooled, alone) and alone.any()


def test_a_killed_build_leaves_no_cache_and_the_next_one_cleans_up(train_paths, tmp_path):
    script = f"""
import time
from pathlib import Path
from trainables.data import hw2p2
real = hw2p2.decode_chunk
def slow(*args):
    time.sleep(60)
    return real(*args)
hw2p2.decode_chunk = slow
paths = [Path(p) for p in {[str(p) for p in train_paths]!r}]
hw2p2.load_images(paths, 16, cache_dir=Path({str(tmp_path)!r}))
"""
    build = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*.partial.npy")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(tmp_path.glob("*.partial.npy")), "the build started"
    finally:
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
    target = hw2p2.cache_path(train_paths, 16, tmp_path)
    assert not target.exists(), "a killed build publishes nothing"
    images = load_images(train_paths, 16, cache_dir=tmp_path)
    assert images.shape == (48, 16, 16, 3)
    assert not list(tmp_path.glob("*.partial.npy")), "the dead build's file was removed"


def test_a_corrupt_jpeg_found_while_decoding_is_named(tmp_path):
    faces = write_synthetic_hw2p2(tmp_path / "faces")  # its own copy: this one gets damaged
    layout = validate_layout(faces)
    broken = layout.dev[3][0]
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(DataError) as error:
        load_images([p for p, _ in layout.dev], 16, cache_dir=tmp_path / "cache", workers=1)
    assert str(error.value).startswith(f"HW2P2 data: {broken} is not a readable image (")
    assert list((tmp_path / "cache").glob("*.npy")) == [], "no cache, not even a partial one"
    with pytest.raises(DataError, match=f"{broken.name} is not a readable image"):
        validate_layout(faces)  # the layout check names it too (headers, in parallel)


def test_face_images_stay_uint8_at_rest(faces, monkeypatch, tmp_path):
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    data = get_task("hw2p2").load(str(faces), 0.1, None, 32)
    for images in (data.val_x, data.verify.known_x, data.verify.unknown_x):
        assert isinstance(images.pixels, np.memmap) and images.pixels.dtype == np.uint8
    assert isinstance(data.train.images, np.memmap)
    # Normalised a batch at a time: the same numbers as a float copy of the whole set.
    whole = torch.from_numpy(np.asarray(data.val_x.pixels, dtype=np.float32)).permute(0, 3, 1, 2)
    mean = torch.tensor(data.stats.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.stats.std).view(1, 3, 1, 1)
    batches = torch.cat(list(data.val_x.batches(torch.device("cpu"), 5)))
    torch.testing.assert_close(batches, (whole - mean) / std)


def test_channel_statistics_in_small_chunks_equal_the_whole_set():
    images = np.random.default_rng(0).integers(0, 256, (300, 16, 16, 3), dtype=np.uint8)
    pixels = images.reshape(-1, 3).astype(np.float64)
    chunked = ChannelStats.of(images, chunk=7)
    np.testing.assert_allclose(chunked.mean, pixels.mean(0), atol=1e-6, rtol=0)
    np.testing.assert_allclose(chunked.std, pixels.std(0), atol=1e-6, rtol=0)


def test_images_land_on_the_device_they_are_asked_for():
    stats = ChannelStats((100.0, 110.0, 120.0), (50.0, 55.0, 60.0))
    images = Images(np.zeros((6, 8, 8, 3), dtype=np.uint8), stats)
    meta = torch.device("meta")  # stands in for a GPU: a batch left on the CPU would show
    assert images.batch(0, 4, meta).device == meta
    assert images.batch(0, 4, meta).shape == (4, 3, 8, 8)


def test_verification_in_chunks_equals_the_whole_matrix():
    generator = torch.Generator().manual_seed(0)
    known = torch.randn(50, 8, generator=generator)
    known[17] = known[3] * 2  # a tie in cosine similarity: the first gallery image wins
    unknown = torch.cat([torch.randn(37, 8, generator=generator), known[3:4] * 5])
    whole = (
        torch.nn.functional.normalize(unknown, dim=1)
        @ torch.nn.functional.normalize(known, dim=1).T
    ).argmax(1)
    for chunk in (1, 4, 7, 64):
        assert torch.equal(match(unknown, known, chunk=chunk), whole)
    assert match(unknown, known, chunk=4)[-1] == 3


# The batched face augmentations against the albumentations reference, in distribution.

STATS = ChannelStats((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # leaves pixels in 0-255 to compare


def _reference(images: np.ndarray, pipeline: A.Compose) -> np.ndarray:
    pipeline.set_random_seed(0)
    return np.stack([pipeline(image=image)["image"] for image in images])


def _batched(images: np.ndarray, augment: FaceAugment) -> np.ndarray:
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    out = augment(x, torch.Generator().manual_seed(0))
    return out.permute(0, 2, 3, 1).numpy()


def _coloured(count: int, size: int = 48) -> np.ndarray:
    """Saturated colour images with a bright left half: grey, flips and erasing show."""
    rng = np.random.default_rng(1)
    images = np.zeros((count, size, size, 3), dtype=np.uint8)
    images[..., 0] = rng.integers(150, 230, (count, 1, 1))
    images[..., 1] = rng.integers(20, 60, (count, 1, 1))
    images[..., 2] = rng.integers(60, 120, (count, 1, 1))
    images[:, :, : size // 2] = np.minimum(images[:, :, : size // 2].astype(int) + 25, 255)
    return images


def test_grayscale_and_erasing_rates_and_erased_area_match_the_reference():
    images = _coloured(600)
    reference = _reference(images, face_train_transform(STATS))
    batched = _batched(images, FaceAugment(STATS))
    for name, out in (("reference", reference), ("batched", batched)):
        centre = out[:, 12:36, 12:36].astype(float)
        spread = centre.max(-1) - centre.min(-1)  # 0 where the pixel is grey
        grey = (np.median(spread.reshape(len(out), -1), axis=1) < 2).mean()
        assert 0.06 < grey < 0.15, (name, grey)
        erased = (out.max(-1) == 0).reshape(len(out), -1).mean(1)  # black pixels per image
        corners = out[:, :3, :3].max(-1) == 0  # rotation's black corners are not the box
        interior = (out[:, 10:38, 10:38].max(-1) == 0).reshape(len(out), -1).mean(1)
        hit = interior > 0.02
        assert 0.42 < hit.mean() < 0.58, (name, hit.mean())
        # The box covers 10% of the image; rotation corners add up to a few percent.
        area = erased[hit].mean()
        assert 0.08 < area < 0.15, (name, area)
        assert corners.mean() < 0.5


def test_flip_rotation_and_colour_jitter_ranges_match_the_reference():
    images = _coloured(600)
    no_erase = FaceAugment(STATS, erase=0.0, gray=0.0)
    reference_pipeline = A.Compose(
        [t for t in face_train_transform(STATS) if not isinstance(t, A.Erasing | A.ToGray)]
    )
    reference = _reference(images, reference_pipeline)
    batched = _batched(images, no_erase)
    results = {}
    for name, out in (("reference", reference), ("batched", batched)):
        half = out.shape[2] // 2
        left = out[:, 16:32, 4:half].mean((1, 2, 3))
        right = out[:, 16:32, half:-4].mean((1, 2, 3))
        flipped = (right > left).mean()
        brightness = out[:, 16:32, 16:32].mean((1, 2, 3)) / images[:, 16:32, 16:32].mean((1, 2, 3))
        black_corner = (out[:, 0, 0].max(-1) < 30).mean()  # rotated by more than ~1 degree
        results[name] = (flipped, brightness, black_corner)
        assert 0.42 < flipped < 0.58, (name, flipped)
        assert brightness.min() > 0.6 and brightness.max() < 1.45, (name, brightness)
    ref, bat = results["reference"], results["batched"]
    assert abs(ref[1].mean() - bat[1].mean()) < 0.03
    assert abs(ref[1].std() - bat[1].std()) < 0.03
    assert abs(ref[2] - bat[2]) < 0.1


def test_streamed_batches_replay_an_epoch_exactly_whatever_the_workers(faces, tmp_path):
    layout = validate_layout(faces)
    images = load_images([p for p, _ in layout.train], 24, cache_dir=tmp_path)
    labels = np.array([y for _, y in layout.train], dtype=np.int64)
    stats = ChannelStats.of(images)

    def epoch(workers: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        batches = StreamedBatches(
            images, labels, 10, FaceAugment(stats), torch.device("cpu"), workers
        )
        batches.reseed(seed)
        return list(batches)

    alone, with_workers, other = epoch(0, 5), epoch(2, 5), epoch(0, 6)
    assert len(alone) == 5 and sum(len(y) for _, y in alone) == 48
    for (xa, ya), (xb, yb) in zip(alone, with_workers, strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
    assert not torch.equal(alone[0][1], other[0][1])
    assert sorted(torch.cat([y for _, y in alone]).tolist()) == sorted(labels.tolist())


def test_the_decoder_the_pool_spawns_imports_neither_torch_nor_albumentations():
    """Each spawned decode process imports trainables.data.decode alone: start-up stays short."""
    heavy = "{'torch', 'albumentations'}"
    code = f"import sys, trainables.data.decode; print(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_cache_dir_that_cannot_hold_the_cache_is_one_sentence(faces, monkeypatch, tmp_path):
    """Not a silent fall-back to the temporary folder: at HW2P2's size the cache is tens of GB."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "file"))
    with pytest.raises(DataError) as error:
        get_task("hw2p2").load(str(faces), 0.1, None, 32)
    assert str(error.value) == (
        f"NAS_CACHE_DIR={tmp_path / 'file'} cannot hold the decoded-image cache (Not a "
        "directory): point it at a writable folder with room for the decoded images."
    )
