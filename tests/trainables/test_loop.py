from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader

from trainables.checkpoints import load_checkpoint, save_checkpoint
from trainables.device import Device
from trainables.loop import Training, seed_everything
from trainables.models.cifar_net import CifarNetSpec
from trainables.recipe import SgdWarmRestarts
from trainables.tasks import get_task

SMALL = CifarNetSpec(
    stem_width=8, widths=(16,) * 3, expansions=(32,) * 3, dilations=(2,) * 3, transition_width=16
)
CPU = Device(torch.device("cpu"))
SETTINGS = SgdWarmRestarts(
    lr=0.05, weight_decay=5e-4, label_smoothing=0.1, t0=2, t_mult=1, batch_size=32
)


def run_epoch(training: Training, data, seed: int):
    generator = torch.Generator().manual_seed(seed * 1000 + training.epoch)
    data.reseed(seed * 1000 + training.epoch)
    loader = DataLoader(
        data.train, batch_size=SETTINGS.batch_size, shuffle=True, generator=generator
    )
    return training.train_epoch(loader, steps=len(loader))


def test_learns_and_follows_the_warm_restart_schedule(synthetic_cifar):
    seed_everything(0)
    data = get_task("cifar10").load(str(synthetic_cifar), 0.1, None, 32)
    training = Training(SMALL, SETTINGS, CPU)
    first = run_epoch(training, data, seed=0)
    # Stepped per iteration with the fractional epoch: halfway through the first 2-epoch cycle.
    assert math.isclose(first.lr, 0.05 * (1 + math.cos(math.pi / 2)) / 2, rel_tol=1e-6)
    second = run_epoch(training, data, seed=0)
    assert math.isclose(second.lr, 0.05, rel_tol=1e-6)  # restarted at the cycle's end
    for _ in range(4):
        last = run_epoch(training, data, seed=0)
    assert last.loss < first.loss
    _, val_acc = training.evaluate(data.val_x, data.val_y)
    assert val_acc > 0.3  # chance is 0.1


def test_checkpoint_restores_the_exact_next_epoch(synthetic_cifar, tmp_path):
    data = get_task("cifar10").load(str(synthetic_cifar), 0.1, None, 32)
    seed_everything(1)
    original = Training(SMALL, SETTINGS, CPU)
    run_epoch(original, data, seed=1)
    save_checkpoint(tmp_path, original, {"seed": 1}, SMALL, {})
    expected = run_epoch(original, data, seed=1)

    resumed = Training(SMALL, SETTINGS, CPU)
    meta = load_checkpoint(tmp_path, resumed)
    assert meta["epoch"] == resumed.epoch == 1 and meta["spec"]["family"] == "cifar_net"
    got = run_epoch(resumed, data, seed=1)
    assert (got.loss, got.acc, got.lr) == (expected.loss, expected.acc, expected.lr)
    restored = resumed.model.state_dict()
    for name, value in original.model.state_dict().items():
        assert torch.equal(value, restored[name]), name


def test_a_trial_goes_on_from_its_newest_whole_checkpoint_whose_epoch_is_logged(tmp_path):
    """What a kill can leave in a trial's folder, and the checkpoint a restore picks."""
    import json

    import pyarrow.fs as pafs

    from trainables.checkpoints import trial_checkpoints
    from trainables.trainable import restore_point

    training = Training(SMALL, SETTINGS, CPU)
    for index, epoch in ((0, 1), (1, 2), (2, 3)):
        training.epoch = epoch
        save_checkpoint(tmp_path / f"checkpoint_00000{index}", training, {"seed": 1}, SMALL, {})
    half = tmp_path / "checkpoint_000002" / "trainer.pt"  # an upload cut short
    half.write_bytes(half.read_bytes()[:100])
    fs, trial = pafs.LocalFileSystem(), str(tmp_path)
    found = trial_checkpoints(fs, trial)
    assert [(e, f.rsplit("/", 1)[1]) for e, f in found] == [
        (2, "checkpoint_000001"),
        (1, "checkpoint_000000"),
        (None, "checkpoint_000002"),
    ]
    assert restore_point(fs, trial) is None  # no epoch logged: it starts over
    line = '{"training_iteration": %d}\n'
    (tmp_path / "result.json").write_text(line % 1 + '{"training_iteration": 2')  # 2 half logged
    assert restore_point(fs, trial) == (1, f"{trial}/checkpoint_000000")
    (tmp_path / "result.json").write_text(line % 1 + line % 2)
    assert restore_point(fs, trial) == (2, f"{trial}/checkpoint_000001")
    manifest = json.loads((tmp_path / "checkpoint_000001" / "manifest.json").read_text())
    assert manifest["epoch"] == 2 and set(manifest["files"]) == {
        "model.pt",
        "trainer.pt",
        "trial.json",
    }
