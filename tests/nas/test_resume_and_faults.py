"""Faults inside trials, Ctrl-C and resume, refusals, and replaying one trial from its seed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from driver import interrupts
from driver.config import RunConfig
from driver.resume import ResumeRefused, resumed_config
from experiment.journal import load_study
from nas.run import main
from search_spaces.cifar_lt200k import SPACE
from searchers import ray_compat
from searchers.base import evaluated
from searchers.evolution import RegularizedEvolution
from tests.conftest import REPO, SMOKE, assert_study_matches_the_trials, run_module, start_nas_run
from trainables.data.synthetic import write_synthetic_cifar10
from trainables.trial import Trial, TrialJob


def epochs_of(experiment: Path) -> dict[str, list[int]]:
    """Each trial's reported epochs, in the order they were written."""
    found = {}
    for trial in sorted(experiment.glob("trial_*")):
        lines = (
            (trial / "result.json").read_text().splitlines()
            if (trial / "result.json").exists()
            else []
        )
        found[trial.name] = [json.loads(line)["epoch"] for line in lines]
    return found


def wait_for(condition, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the search to progress"
        time.sleep(0.5)


def ablations(experiment: Path) -> pd.DataFrame:
    return pd.read_csv(
        experiment / "reports" / "ablations.csv", keep_default_na=False, na_values=[""]
    )


@pytest.mark.slow
def test_faulty_candidates_fail_with_typed_reasons_and_the_search_goes_on(tmp_path):
    code = (
        "import sys, tests.nas.fault_space; from nas.run import main; sys.exit(main(sys.argv[1:]))"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        "--space",
        "faulty_cifar",
        *SMOKE.split(),
        "--num-samples",
        "4",
        "--max-failures",
        "1",
        "--storage",
        str(tmp_path),
        "--name",
        "faults",
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = ablations(tmp_path / "faults").set_index("lr")
    ran = table[table["State"] != "rejected"]
    assert len(ran) == 4
    diverged = ran.loc[1e8]
    assert (diverged["State"], diverged["failure"], diverged["val_acc"]) == ("failed", "nan", 0.0)
    assert diverged["Notes"].startswith("nan: loss became")
    raised = ran[ran["batch_size"] == 0].iloc[0]
    assert (raised["State"], raised["failure"]) == ("failed", "error")
    assert "batch_size should be a positive integer" in raised["Notes"]
    assert "(failed 2 times)" in raised["Notes"]  # --max-failures 1 retried it once
    assert (ran["State"] == "finished").sum() + (
        ran["State"] == "stopped early by ASHA"
    ).sum() == 2


def test_changed_space_or_options_refuse_to_resume(tmp_path, capsys):
    experiment = tmp_path / "old"
    experiment.mkdir()
    options = {
        "space": "cifar_lt200k",
        "num_samples": 4,
        "max_epochs": 3,
        "grace_period": 1,
        "reduction_factor": 2,
        "searcher": "optuna",
        "seed": 0,
        "val_fraction": 0.1,
        "train_limit": None,
    }
    record = {"space": "cifar_lt200k", "space_fingerprint": "0" * 16, "options": options}
    (experiment / "run.json").write_text(json.dumps(record))
    assert main(["--storage", str(tmp_path), "--name", "old", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "space cifar_lt200k changed since experiment 'old' started" in err
    assert "search_spaces/cifar_lt200k.py differs" in err

    assert (
        main(["--storage", str(tmp_path), "--name", "old", "--resume", "--grace-period", "2"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == (
        "nas.run: error: experiment 'old' was started with other settings: --grace-period (was "
        "1, now 2); resume without them (of these, only a larger --num-samples may be given: it "
        "grows the search) or start a new --name."
    )


def test_a_resume_is_checked_against_what_the_user_asked_not_what_was_derived():
    """The driver moved the first rung (grace 1 asked, 6 ran): --grace-period 1 again is no
    change, 2 is; the resumed config asks for 1 again, and the driver derives 6 again. So for
    older run.json files, which recorded the derived options beside the asked ones."""
    asked = RunConfig(space="cifar_lt200k", max_epochs=10, grace_period=1, storage="/s")
    plan = {"num_classes": 10, "grace_period": 6, "rungs": [6], "max_concurrent": 2}
    derived = {**dataclasses.asdict(asked), **plan}  # as older run.json files' options
    records = (
        {"options": dataclasses.asdict(asked), "plan": plan},
        {
            "options": derived,
            "asked": dataclasses.asdict(asked),
        },
    )
    for record in records:
        again = resumed_config("e", record, {"grace_period": 1, "storage": "/s"})
        assert (again.grace_period, again.max_concurrent) == (1, None)
        with pytest.raises(ResumeRefused, match=r"--grace-period \(was 1, now 2\)"):
            resumed_config("e", record, {"grace_period": 2, "storage": "/s"})
    older = {"options": derived}  # run.json before "asked": as derived
    assert resumed_config("e", older, {"storage": "/s"}).grace_period == 6


def test_unwritable_storage_is_refused_before_anything_runs(tmp_path, synthetic_cifar, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["--space", "cifar_lt200k", "--data-dir", str(synthetic_cifar)]
    assert main([*args, "--storage", str(blocker / "experiments")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nas.run: error: storage {blocker / 'experiments'} is not writable")
    assert err.endswith("choose another --storage.")
    # A bucket that cannot be reached (offline here; a missing bucket online), also on --resume.
    bucket = "s3://nas-no-such-bucket-5d1c/experiments"
    for resume in ([], ["--name", "x", "--resume"]):
        assert main([*args, "--storage", bucket, *resume]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"nas.run: error: storage {bucket} is not writable (")
        assert err.endswith("choose another --storage.") and "Traceback" not in err


@pytest.mark.slow
def test_a_trial_in_a_reused_worker_replays_from_its_seed(smoke_experiment, tmp_path):
    """Tune reuses workers; a trial that ran in one after another trial is still reproducible."""
    experiment, _ = smoke_experiment
    record = json.loads((experiment / "run.json").read_text())
    data_dir = write_synthetic_cifar10(tmp_path / "data")  # the smoke test's data, rewritten
    run = RunConfig(**{**record["options"], "data_dir": str(data_dir)})
    runs = []
    for folder in experiment.glob("trial_*"):
        results = [json.loads(line) for line in (folder / "result.json").read_text().splitlines()]
        runs.append(results)
    runs.sort(key=lambda results: results[0]["timestamp"])
    pids = [results[0]["pid"] for results in runs]
    reused = [results for i, results in enumerate(runs) if results[0]["pid"] in pids[:i]]
    assert reused, f"no worker ran two trials (worker pids in trial order: {pids})"
    results = max(reused, key=len)
    replay = Trial(results[0]["config"], TrialJob(run.search_space(), run)).epochs()
    for result, report in zip(results, replay, strict=False):
        for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert report.metrics[key] == pytest.approx(result[key], rel=1e-6), key


def test_resume_needs_only_the_name_and_the_storage(tmp_path):
    from driver.resume import space_fingerprint
    from nas.run import config_of, parser

    experiment = tmp_path / "old"
    experiment.mkdir()
    options = {
        "space": "cifar_lt200k",
        "num_samples": 5,
        "max_epochs": 7,
        "grace_period": 2,
        "reduction_factor": 3,
        "searcher": "random",
        "seed": 9,
        "val_fraction": 0.2,
        "train_limit": 500,  # train_images's name in older experiments
        "metric": "val_acc",
        "max_params": None,
        "input_size": None,
        "data_dir": "/data/cifar",
    }
    record = {
        "space": "cifar_lt200k",
        "space_fingerprint": space_fingerprint(SPACE),
        "options": options,
    }
    (experiment / "run.json").write_text(json.dumps(record))
    run = config_of(parser().parse_args(["--storage", str(tmp_path), "--name", "old", "--resume"]))
    assert (run.space, run.num_samples, run.max_epochs, run.searcher, run.seed) == (
        "cifar_lt200k",
        5,
        7,
        "random",
        9,
    )
    assert (run.train_images, run.val_fraction, run.data_dir) == (500, 0.2, "/data/cifar")


def searcher_state(experiment: Path) -> dict:
    """The searcher as Tune last saved it (FeasibleSearch's attributes).

    The newest file by the session time in its name: a resumed run writes its own and copies the
    older ones again, so modification times do not tell them apart.
    """
    latest = max(experiment.glob("searcher-state-*.pkl"), key=lambda p: p.name)
    return pickle.loads(latest.read_bytes())


@pytest.mark.slow
def test_sigterm_stops_as_ctrl_c_does_and_evolution_resumes_with_its_population(tmp_path):
    """SIGTERM (docker stop, Slurm, Kubernetes) goes Tune's Ctrl-C way (``driver.interrupts``):
    exit 143 and the resume command. The resumed search repeats no epoch, and regularized
    evolution goes on with its population; each trial's W&B run goes on under its id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    env |= {"WANDB_MODE": "offline", "HOME": str(tmp_path)}
    flags = f"{SMOKE} --wandb --searcher evolution --num-samples 4 --max-epochs 2"
    args = ["--space", "cifar_lt200k", *flags.split(), "--grace-period", "2"]
    driver = start_nas_run(*args, "--storage", str(tmp_path), "--name", "x", env=env)
    experiment = tmp_path / "x"
    wait_for(lambda: any(e == [1, 2] for e in epochs_of(experiment).values()))
    driver.send_signal(signal.SIGTERM)
    out, _ = driver.communicate(timeout=240)
    assert driver.returncode == 143, out[-3000:]
    assert "Interrupted before the end; continue with:" in out
    before = epochs_of(experiment)
    assert sum(len(e) for e in before.values()) < 4 * 2
    known = searcher_state(experiment)["_asked"]  # the study as Tune's last snapshot knew it
    population = {t.number: t.intermediate_values for t in evaluated(load_study(str(experiment)))}
    population = {n: steps for n, steps in population.items() if n < known}
    assert population

    # A bad disk: a garbage line in the middle, and a last line a kill cut short.
    lines = (experiment / "study.journal").read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2  # however many lines the stop left
    garbage = [
        *lines[:middle],
        b"\x00garbage\n",
        *lines[middle:],
        b'{"op_code":7,"worker_id":"x","tri',
    ]
    (experiment / "study.journal").write_bytes(b"".join(garbage))
    again = ["--storage", str(tmp_path), "--name", "x", "--resume", "--smoke-test"]
    resumed = run_module("nas.run", *again, env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-2000:]
    rebuilt = f"{experiment}/study.journal: rebuilt from the logs of "
    line = next(ln for ln in resumed.stdout.splitlines() if ln.startswith(rebuilt))
    assert f"(line {middle + 1} not Optuna's)" in line, line
    assert line.endswith("numbered as before; the damaged file is kept as study.journal.damaged.")
    after = epochs_of(experiment)
    assert len(after) == 4 and all(e == [1, 2] for e in after.values()), (before, after)
    record = json.loads((experiment / "run.json").read_text())
    assert len(record["resumes"]) == 1 and record["ended"]
    study = load_study(str(experiment))
    kept = {t.number: t.intermediate_values for t in evaluated(study)}
    assert {n: kept.get(n) for n in population} == population  # nobody lost or changed
    assert isinstance(searcher_state(experiment)["_sampler"], RegularizedEvolution)
    assert all(t.user_attrs["parent"] < t.number for t in study.trials if "parent" in t.user_attrs)
    # Every epoch the logs hold is in the study too, though the stop may have left the last one
    # untold to the searcher (the end of the run sets the study to the logs).
    assert len(kept) == 4 and all(list(steps) == [1, 2] for steps in kept.values()), kept
    assert_study_matches_the_trials(experiment)
    # W&B: the resumed trials logged into their own runs again (same ids), no new runs.
    run_ids = {p.name.rsplit("-", 1)[1] for p in (experiment / "wandb").glob("offline-run-*")}
    assert run_ids == {name.removeprefix("trial_") for name in after}, (run_ids, after)


def test_a_first_sigterm_is_tunes_stop_and_a_second_stops_at_once(monkeypatch):
    monkeypatch.setattr(interrupts, "received", [])
    monkeypatch.setattr(interrupts, "decided", [])
    stops = []

    def tunes_stop(signum, frame):  # as Tune's during a run: note it, give SIGINT back
        stops.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    sigint, sigterm = signal.signal(signal.SIGINT, tunes_stop), signal.getsignal(signal.SIGTERM)
    try:
        interrupts.on_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        assert stops == [signal.SIGINT] and interrupts.exit_status() == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
        signal.signal(signal.SIGINT, sigint)
        signal.set_wakeup_fd(-1)


BUSY = """
import hashlib, os, subprocess, threading, time
from driver import interrupts
from searchers import ray_compat
raylet = subprocess.Popen(["sleep", "60"])  # Ray's own process, in the same process group


def core_worker():  # as Ray's C++ in a driver: its raylet gone, it ends the process (exit 1)
    while raylet.poll() is None:
        time.sleep(0.01)
    time.sleep(1)
    os._exit(1)


threading.Thread(target=core_worker, daemon=True).start()
ray_compat.local_ray_processes = lambda: [raylet]
interrupts.resumes_with("nas.run", "RESUME")
interrupts.on_sigterm()
print("busy", flush=True)
hashlib.pbkdf2_hmac("sha256", b"x", b"y", 30_000_000)  # in C, without the GIL: many seconds
"""


def test_a_sigterm_to_the_group_stops_at_once_while_the_main_thread_is_in_a_long_call():
    """Python runs a handler in the main thread between bytecodes; inside a long C call (Ray's)
    that came late, after Ray's raylet, stopped by the same SIGTERM, had made Ray end the driver
    (exit 1, no sentence). The wakeup thread stops it at once, with the sentence."""
    command = subprocess.Popen(
        [sys.executable, "-c", BUSY], cwd=REPO, start_new_session=True, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert command.stdout.readline() == "busy\n"
        os.killpg(command.pid, signal.SIGTERM)
        out, err = command.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(command.pid, signal.SIGKILL)
    assert command.returncode == 143, (command.returncode, out, err)
    assert err.strip().splitlines()[-1] == (
        "nas.run: stopped at once (the SIGTERM reached Ray's own processes too); "
        "continue with `RESUME`."
    )


def test_a_sigterm_that_stopped_ray_s_own_processes_too_stops_at_once(monkeypatch, capsys):
    """A SIGTERM to the whole process group (Slurm's) reaches Ray's processes too: one ended by
    it (killed, or exited 15 as Ray's Python processes do), now or within a moment, and the
    command exits 143 at once with the line that resumes it; a process that ended otherwise, or
    none, and Tune's stop runs as after a SIGTERM to the driver alone."""

    def ended(code: int) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
        process.wait()
        return process

    running = subprocess.Popen(["sleep", "60"])
    try:
        crashed, killed = ended(1), subprocess.Popen(["sleep", "60"])
        killed.terminate()
        killed.wait()
        assert not interrupts.stopped_by_sigterm([crashed, running], within_s=0.2)
        assert interrupts.stopped_by_sigterm([running, killed], within_s=0)
        assert interrupts.stopped_by_sigterm([crashed, ended(15)], within_s=0)
        threading.Timer(0.3, running.terminate).start()
        assert interrupts.stopped_by_sigterm([crashed, running], within_s=10)
    finally:
        running.kill()

    def exit_at_once(code: int):
        raise SystemExit(code)

    monkeypatch.setattr(interrupts, "received", [])
    monkeypatch.setattr(interrupts, "decided", [])
    monkeypatch.setattr(interrupts, "stopping", [])
    monkeypatch.setattr(ray_compat, "local_ray_processes", lambda: [killed])
    monkeypatch.setattr(os, "_exit", exit_at_once)
    interrupts.resumes_with("nas.run", "python -m nas.run --storage s --name x --resume")
    with pytest.raises(SystemExit) as stop:
        interrupts._sigterm(signal.SIGTERM, None)
    assert stop.value.code == 143
    assert capsys.readouterr().err == (
        "nas.run: stopped at once (the SIGTERM reached Ray's own processes too); continue with "
        "`python -m nas.run --storage s --name x --resume`.\n"
    )
