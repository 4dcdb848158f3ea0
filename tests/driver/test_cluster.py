"""A real two-node Ray cluster on one machine: trials on both nodes, shared storage, resume."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import SMOKE, ray_cluster, run_module, start_nas_run
from tests.nas.test_resume_and_faults import ablations, epochs_of, wait_for


@pytest.fixture
def two_node_cluster():
    with ray_cluster(workers=1) as cluster:
        yield cluster


@pytest.mark.slow
def test_search_on_two_nodes_survives_a_killed_driver(two_node_cluster, tmp_path):
    address = two_node_cluster.address
    common = ["--address", address, "--storage", str(tmp_path), "--name", "c", "--smoke-test"]
    flags = f"{SMOKE} --num-samples 4 --max-epochs 3 --grace-period 3"
    first = [*common, "--space", "cifar_lt200k", *flags.split()]
    driver = start_nas_run(*first, killable=True)
    experiment = tmp_path / "c"
    # Kill the driver (SIGKILL, its whole process group) once a trial has checkpointed twice.
    wait_for(lambda: any(len(e) >= 2 for e in epochs_of(experiment).values()))
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = epochs_of(experiment)
    done_before = {name for name, epochs in before.items() if len(epochs) == 3}
    finished_results = {n: (experiment / n / "result.json").read_text() for n in done_before}
    assert sum(len(e) for e in before.values()) < 4 * 3

    resumed = run_module("nas.run", *common, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = epochs_of(experiment)
    assert len(after) == 4  # exactly --num-samples trials
    once = all(epochs == [1, 2, 3] for epochs in after.values())  # none repeated or restarted
    assert once, (before, after, resumed.stdout[-4000:])
    for name, text in finished_results.items():  # finished trials were not run again
        assert (experiment / name / "result.json").read_text() == text
    continued = [n for n, e in before.items() if 0 < len(e) < 3]
    assert continued, "a trial was running when the driver was killed"

    nodes = set()
    for trial in experiment.glob("trial_*"):
        for line in (trial / "result.json").read_text().splitlines():
            nodes.add(json.loads(line)["node_id"])
    assert len(nodes) == 2, "trials ran on both nodes"
    assert (experiment / "reports" / "ablations.csv").exists()


@pytest.mark.slow
def test_every_node_checks_its_data_before_trials_start(two_node_cluster, tmp_path):
    import ray

    from driver.config import RunConfig
    from driver.nodes import prepare_other_nodes
    from search_spaces import get_space
    from trainables.data import DataError

    def config(data_dir, smoke_test):
        return RunConfig(space="cifar_lt200k", data_dir=str(data_dir), smoke_test=smoke_test)

    ray.init(address=two_node_cluster.address, logging_level="WARNING")
    try:
        # --smoke-test: the other node writes the synthetic set at the same path, then checks it.
        space = get_space("cifar_lt200k")
        found = prepare_other_nodes(space, config(tmp_path / "smoke", smoke_test=True))
        assert list(found.values()) == [
            f"CIFAR-10 in {tmp_path / 'smoke' / 'cifar-10-batches-py'}: 2 of 5 training batch "
            "files (a subset), 512 training and 128 test images"
        ]
        with pytest.raises(DataError, match=r"^on node .*: CIFAR-10 in .*missing.* is incomplete"):
            (tmp_path / "missing" / "cifar-10-batches-py").mkdir(parents=True)
            prepare_other_nodes(space, config(tmp_path / "missing", smoke_test=False))
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_a_trial_whose_node_dies_goes_on_from_its_checkpoint_on_the_other(
    two_node_cluster, tmp_path
):
    """Even at --max-failures 0: a lost node is not the candidate's failure."""
    [worker] = [node for node in two_node_cluster.list_all_nodes() if not node.head]
    flags = f"{SMOKE} --num-samples 3 --max-epochs 4 --grace-period 4 --max-failures 0"
    where = ["--address", two_node_cluster.address, "--storage", str(tmp_path), "--name", "n"]
    driver = start_nas_run("--space", "cifar_lt200k", *flags.split(), *where)
    experiment = tmp_path / "n"

    def reports(trial: Path) -> list[dict]:
        text = (trial / "result.json").read_text() if (trial / "result.json").exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def on_the_worker() -> Path | None:
        for trial in experiment.glob("trial_*"):
            done = reports(trial)
            if len(done) >= 2 and done[-1]["node_id"] == worker.node_id:
                return trial
        return None

    wait_for(lambda: on_the_worker() is not None)
    lost = on_the_worker()
    epochs_before = len(reports(lost))
    two_node_cluster.remove_node(worker, allow_graceful=False)
    out, _ = driver.communicate(timeout=600)
    assert driver.returncode == 0, out[-3000:]

    after = epochs_of(experiment)
    assert len(after) == 3 and all(e == [1, 2, 3, 4] for e in after.values()), after
    nodes = [r["node_id"] for r in reports(lost)]
    on_worker = nodes.count(worker.node_id)  # it may log one more epoch as its node goes
    assert on_worker >= epochs_before
    others = [node for node in nodes if node != worker.node_id]
    assert nodes == [worker.node_id] * on_worker + others  # then on the node that was left
    [entry] = [json.loads(x) for x in (lost / "node_lost.jsonl").read_text().splitlines()]
    assert entry["node_id"] == worker.node_id and entry["after_epoch"] >= epochs_before
    table = ablations(experiment).set_index("Name")
    assert table.loc[lost.name, "State"] == "finished"
    assert table.loc[lost.name, "Notes"] == "node lost 1x, went on from its checkpoint"
    assert (table["State"] == "finished").all()
