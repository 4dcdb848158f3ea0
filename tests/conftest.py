from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from trainables.data.synthetic import write_synthetic_cifar10

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


# One Ray authentication mode for every Ray the tests start, in this process and in the ones it
# starts. Left unset, Ray's first local start in a test process turns token authentication on
# in that process's environment and its cached config, and a test that set another mode for a
# cluster of its own (test_cluster's two nodes) left the two disagreeing for the next test in the
# same process: its local Ray's GCS asked for a token the driver did not send (InvalidAuthToken).
os.environ["RAY_AUTH_MODE"] = "disabled"

NAS_RUN = [sys.executable, "-m", "nas.run"]
# The searches of the tests that check files, states and resumes rather than learning: a quarter
# of the synthetic training images, so an epoch is two optimizer steps (about a second, not four;
# fewer made no measurable difference, and left the kill tests' searches too short to stop).
SMOKE = "--smoke-test --train-images 128"


@contextlib.contextmanager
def ray_cluster(workers: int = 0):
    """A Ray cluster on this machine, as ``ray start`` leaves one (a head of 1 CPU, and
    ``workers`` nodes of 1 CPU each), which a plain ``ray.init()`` here would join."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        for _ in range(workers):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` and all in it unwritable, as on a read-only mount. Root ignores permission
    bits, so as root the files are made immutable (``chattr``); skips where neither works."""
    flags = ("chattr", "+i", "-i") if os.geteuid() == 0 else ("chmod", "a-w", "u+w")
    lock = subprocess.run([flags[0], "-R", flags[1], folder], capture_output=True)
    try:
        probe = subprocess.run(["touch", folder / "probe"], capture_output=True)
        if lock.returncode == 0 and probe.returncode != 0:
            yield folder
        else:
            (folder / "probe").unlink(missing_ok=True)
            pytest.skip(f"{folder} could not be made read-only ({lock.stderr.decode().strip()})")
    finally:
        subprocess.run([flags[0], "-R", flags[2], folder], capture_output=True)


def run_module(
    module: str, *args: str, timeout: int = 600, env=None
) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` from the repository root, its output captured as text."""
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def start_nas_run(*args: str, env=None, killable: bool = False, **popen) -> subprocess.Popen:
    """``python -m nas.run ARGS`` started from the repository root, its output captured as text;
    or, ``killable``, dropped, in a session of its own: a kill of that process group takes the
    driver and its Ray processes down at once (its workers, in groups of their own, notice and
    exit within seconds), as a crash of the machine would."""
    if killable:
        popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
        popen["start_new_session"] = True
    else:
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, **popen}
    return subprocess.Popen([*NAS_RUN, *args], cwd=REPO, env=env, **popen)


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


def built_once(tmp_path_factory, name: str, build) -> dict:
    """``build(folder)`` (a dict that JSON holds) run once per test run, however many test
    processes ask (pytest-xdist): the first builds under a file lock, the others wait for it and
    share what it built, read-only, as the tests of one process share a session fixture."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each process has its own basetemp below one
        root = root.parent
    folder, made = root / name, root / f"{name}.json"
    with FileLock(f"{folder}.lock"):
        if not made.exists():
            folder.mkdir()
            made.write_text(json.dumps(build(folder)))
    return json.loads(made.read_text())


@pytest.fixture(scope="session")
def smoke_experiment(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real search, run once: 6 trials, up to 3 epochs, on synthetic data (about a minute)."""

    def search(storage: Path) -> dict:
        flags = f"{SMOKE} --num-samples 6 --max-epochs 3 --grace-period 1 --reduction-factor 3"
        where = ["--storage", str(storage), "--name", "e2e", "--seed", "2"]
        done = run_module("nas.run", "--space", "cifar_lt200k", *flags.split(), *where)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return {"args": done.args, "stdout": done.stdout, "stderr": done.stderr}

    done = built_once(tmp_path_factory, "smoke_experiment", search)
    storage = done["args"][done["args"].index("--storage") + 1]
    return Path(storage) / "e2e", subprocess.CompletedProcess(**done, returncode=0)


@pytest.fixture(scope="session")
def refit_experiment(tmp_path_factory) -> tuple[Path, str]:
    """One command from search to final models: 4 trials, then the top 2 and the seed preset
    with 2 seeds for 2 epochs each."""

    def search_and_refit(storage: Path) -> dict:
        flags = f"{SMOKE} --num-samples 4 --max-epochs 2 --grace-period 1 --reduction-factor 2"
        refit = "--refit-top 2 --refit-seeds 2 --refit-epochs 2"
        where = ["--storage", str(storage), "--name", "won", "--seed", "3", "--num-cpus", "2"]
        done = run_module(
            "nas.run", "--space", "cifar_lt200k", *flags.split(), *refit.split(), *where
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return {"experiment": str(storage / "won"), "stdout": done.stdout}

    done = built_once(tmp_path_factory, "refit_experiment", search_and_refit)
    return Path(done["experiment"]), done["stdout"]


def assert_study_matches_the_trials(experiment: Path) -> None:
    """The searcher's Optuna study, opened as Optuna's tools open it, holds every trial Tune
    ran exactly once (found by its seed, named by its Tune trial id), in the state and at the
    epoch the reports show, and every rejected candidate; nothing left running. Knowledge of
    earlier searches (a warm start) is not among them."""
    import json

    import pandas as pd

    from experiment.journal import epochs, load_study
    from searchers.feasible import trial_seed

    study = load_study(str(experiment))
    table = pd.read_csv(experiment / "reports" / "ablations.csv")
    ran = table[table["State"] != "rejected"]
    here = [t for t in study.trials if "warm_start" not in t.user_attrs]  # not knowledge
    trained = [t for t in here if "rejected" not in t.user_attrs]
    seed = json.loads((experiment / "run.json").read_text())["seed"]
    by_seed = {trial_seed(seed, t.number): t for t in trained}
    assert len(by_seed) == len(trained) == len(ran), [t.state.name for t in trained]
    assert set(by_seed) == set(ran["seed"])
    states = {"finished": "COMPLETE", "stopped early by ASHA": "PRUNED"}
    for row in ran.itertuples():
        trial = by_seed[row.seed]
        assert trial.state.name == states[row.State], row.Name
        assert f"trial_{trial.user_attrs['tune_trial_id']}" == row.Name  # the dashboard's name
        assert max(epochs(trial)) == row.epochs, row.Name
        assert epochs(trial)[row.epochs] == pytest.approx(row.val_acc), row.Name
    assert len(here) - len(trained) == (table["State"] == "rejected").sum()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The slow tests first: under pytest-xdist (`make test` runs two processes) the last
    minutes are then not one process's long test while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
