"""One driver per experiment: a second refuses while the first is alive, and takes over after."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driver.resume import space_fingerprint
from experiment.lock import STALE_S, DriverLock, ExperimentBusy
from nas.run import main
from search_spaces.cifar_lt200k import SPACE


def other_driver(experiment, heard_s_ago: float) -> dict:
    since = time.time() - 3600
    other = {"host": "node-7", "pid": 4242, "since": since, "heartbeat": time.time() - heard_s_ago}
    experiment.mkdir(parents=True, exist_ok=True)
    (experiment / "driver.json").write_text(json.dumps(other))
    return other


def reaped_pid() -> int:
    """A pid no process has: a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_live_driver_keeps_the_experiment_and_a_dead_one_is_taken_over(tmp_path):
    experiment = tmp_path / "x"
    other_driver(experiment, heard_s_ago=5)
    with pytest.raises(ExperimentBusy, match=r"pid 4242 on node-7, since .*, last heard 5 s ago"):
        DriverLock(str(experiment), "x").acquire()

    other_driver(experiment, heard_s_ago=STALE_S + 1)
    with DriverLock(str(experiment), "x") as lock:
        assert json.loads((experiment / "driver.json").read_text())["pid"] == lock.me["pid"]
        second = DriverLock(str(experiment), "x")
        second.me = {**second.me, "pid": 1}  # another driver on this host
        with pytest.raises(ExperimentBusy, match=f"pid {lock.me['pid']} on "):
            second.acquire()
    # On this host a lock whose process is gone is taken over at once (a resume after a kill).
    gone = {
        "host": socket.gethostname(),
        "pid": reaped_pid(),
        "since": 0,
        "heartbeat": time.time(),
    }
    (experiment / "driver.json").write_text(json.dumps(gone))
    with DriverLock(str(experiment), "x"):
        pass
    assert not (experiment / "driver.json").exists()  # released at the end


def test_resuming_an_experiment_another_driver_runs_is_one_sentence(
    tmp_path, synthetic_cifar, capsys
):
    experiment = tmp_path / "x"
    options = {"space": SPACE.name, "num_samples": 2, "max_epochs": 2, "grace_period": 1}
    options |= {"reduction_factor": 2, "metric": "val_acc", "data_dir": str(synthetic_cifar)}
    record = {"space": SPACE.name, "space_fingerprint": space_fingerprint(SPACE)}
    other_driver(experiment, heard_s_ago=2)
    (experiment / "run.json").write_text(json.dumps({**record, "options": options}))
    assert main(["--storage", str(tmp_path), "--name", "x", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "nas.run: error: experiment 'x' is being run by another driver (pid 4242 on node-7, since "
    )
    assert re.search(r"last heard \d s ago\): wait for it to end or stop it; a driver that", err)
    assert err.endswith(
        "died is taken over at once on its own host, and 60 s after its last heartbeat from "
        f"another (if you are sure it is gone, delete {experiment / 'driver.json'})."
    )
    assert json.loads((experiment / "driver.json").read_text())["pid"] == 4242  # untouched


def test_a_pid_given_to_another_program_does_not_hold_the_experiment(tmp_path, capsys):
    """Same host, heartbeat a day old: a live process that is not one of the project's commands
    (the pid was reused) leaves the lock to be taken over, saying so; one that is keeps it."""
    experiment = tmp_path / "x"
    experiment.mkdir()
    day_old = {"host": socket.gethostname(), "since": 0, "heartbeat": time.time() - 86_400}
    sleeper = subprocess.Popen(["sleep", "60"])
    driver = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "nas.run", "--resume"]
    )
    try:
        for process in (sleeper, driver):  # its command line is there once it has started
            while not Path(f"/proc/{process.pid}/cmdline").read_bytes():
                time.sleep(0.01)
        (experiment / "driver.json").write_text(json.dumps({**day_old, "pid": driver.pid}))
        with pytest.raises(ExperimentBusy, match=f"pid {driver.pid} on "):
            DriverLock(str(experiment), "x").acquire()

        (experiment / "driver.json").write_text(json.dumps({**day_old, "pid": sleeper.pid}))
        with DriverLock(str(experiment), "x") as lock:
            assert json.loads((experiment / "driver.json").read_text())["pid"] == lock.me["pid"]
        assert capsys.readouterr().out == (
            f"Taking over experiment 'x' from a driver that is gone (pid {sleeper.pid} on "
            f"{socket.gethostname()}, last heard 86400 s ago).\n"
        )
    finally:
        sleeper.kill(), driver.kill()
