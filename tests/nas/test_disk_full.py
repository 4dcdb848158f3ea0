"""A storage that fills up mid-search: one sentence, the experiment resumable once freed."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
import ray

from experiment import storage
from nas.cli import command
from nas.run import main
from tests.conftest import REPO, SMOKE, run_module, start_nas_run
from tests.nas.test_resume_and_faults import ablations, epochs_of, wait_for

SENTENCE = "nas.run: error: out of disk space: "


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs, where this machine lets the tests mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)]
    try:
        mounted = subprocess.run(command, capture_output=True, text=True)
        why = mounted.stderr.strip() if mounted.returncode else None
    except OSError as e:  # no mount command
        why = str(e)
    if why is not None:
        pytest.skip(
            f"no tmpfs can be mounted here ({why}); "
            "test_a_full_disk_at_the_run_record_is_one_sentence injects the fault"
        )
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk) -> None:
    """Write zeros into ``disk/ballast`` until no byte more fits."""
    chunk = bytes(1 << 20)
    with open(disk / "ballast", "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    with open(disk / "ballast", "ab", buffering=0) as f:  # the last partial megabyte too
        try:
            while True:
                f.write(bytes(4096))
        except OSError:
            pass


@pytest.mark.slow
def test_a_storage_that_fills_up_stops_the_search_resumably(small_disk):
    flags = f"{SMOKE} --num-samples 3 --max-epochs 3 --grace-period 3 --max-failures 0"
    where = ["--storage", str(small_disk), "--name", "full"]
    driver = start_nas_run(
        "--space", "cifar_lt200k", *flags.split(), *where, stderr=subprocess.PIPE
    )
    experiment = small_disk / "full"
    wait_for(lambda: any(len(e) >= 1 for e in epochs_of(experiment).values()))
    fill(small_disk)
    out, err = driver.communicate(timeout=300)
    last = err.strip().splitlines()[-1]
    assert driver.returncode == 1, out[-2000:] + err[-3000:]
    assert last.startswith(SENTENCE), err[-3000:]
    resume = command(
        "nas.run", "--storage", str(small_disk), "--name", "full", "--resume", cwd=REPO
    )
    assert last.endswith(f"free space in {small_disk} and continue with `{resume}`."), last
    before = epochs_of(experiment)

    (small_disk / "ballast").unlink()
    resumed = run_module("nas.run", *where, "--resume", "--smoke-test")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = epochs_of(experiment)
    assert len(after) == 3 and all(e == [1, 2, 3] for e in after.values()), (before, after)
    table = ablations(experiment)
    assert set(table[table["State"] != "rejected"]["State"]) == {"finished"}


def test_a_full_disk_at_the_run_record_is_one_sentence(tmp_path, monkeypatch, capsys):
    """The fault injected at the write, where no small disk can be mounted."""
    real_fs = storage._fs

    class Full:
        def __init__(self, fs):
            self.fs = fs

        def open_output_stream(self, path):
            if "run.json" in path:
                raise OSError(errno.ENOSPC, "No space left on device", path)
            return self.fs.open_output_stream(path)

        def __getattr__(self, name):
            return getattr(self.fs, name)

    def full_fs(location):
        fs, path = real_fs(location)
        return Full(fs), path

    monkeypatch.setattr(storage, "_fs", full_fs)
    args = ["--space", "cifar_lt200k", "--smoke-test", "--num-samples", "1", "--max-epochs", "1"]
    try:
        assert main([*args, "--storage", str(tmp_path), "--name", "x", "--num-cpus", "1"]) == 1
    finally:
        ray.shutdown()
    err = capsys.readouterr().err.strip()
    assert err == (
        f"{SENTENCE}could not write {tmp_path}/x/run.json ([Errno 28] No space left on device: "
        f"'{tmp_path}/x/run.json.partial-{os.getpid()}'); nothing was recorded: free space in "
        f"{tmp_path} and start again."
    )
    assert list((tmp_path / "x").iterdir()) == []  # no half-written run.json, no lock left
