"""The Ray cluster a driver runs on: started here or joined (``--address``), and what fits on it.

Shared by ``nas.run`` and ``nas.refit``: both size their trials at once by the cluster's nodes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from pathlib import Path

from driver import interrupts
from driver.config import RunConfig, UsageError
from driver.plan import Plan
from searchers.ray_compat import session_folder
from trainables.device import trials_per_gpu


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Raise UsageError in seconds where nothing listens at a ``host:port`` cluster address
    (Ray itself retries for minutes). ``auto`` and ``ray://`` addresses are left to Ray."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise UsageError(
            f"no Ray cluster answers at --address {address} ({e.strerror or e}): start a head "
            f"node there with `ray start --head --port={port}`, or leave out --address to start "
            "Ray on this machine."
        ) from None


# A worker reused for the next trial (``reuse_actors``) first waits for the last trial's
# training thread to end; Tune gives it 2 s, then fails the *next* trial ("Trainable runner
# reuse requires reset_config() ..."). A trial ASHA stopped ends its epoch's work and its data
# loaders first, which on a busy machine takes longer: seen failing searches on 2 loaded cores.
WORKERS = {"env_vars": {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "120"}}


def start_ray(config: RunConfig) -> None:
    # The classic table reporter shows the metric columns we choose; the newer engine ignores them.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Checkpointing every epoch is intended; Tune's warning about frequent snapshots is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray

    if config.address:
        check_address(config.address)
        ray.init(address=config.address, logging_level="WARNING", runtime_env=WORKERS)
    else:
        start_local_ray(config.num_cpus or os.cpu_count(), "WARNING", runtime_env=WORKERS)
    interrupts.on_sigterm()  # after ray.init, which installs its own handler


def start_local_ray(num_cpus: int, logging_level: str, **options) -> None:
    """Ray on this machine, an instance of its own ("local"), with no dashboard: also where a
    `ray start` cluster runs here (Ray would join that one, and refuse num_cpus with a
    traceback)."""
    import ray

    quiet_token_notice()
    ray.init(
        address="local", num_cpus=num_cpus, include_dashboard=False,
        logging_level=logging_level, **options,
    )  # fmt: skip


def quiet_token_notice() -> None:
    """Leave out Ray's warning, on every start of a local instance, that it enabled token
    authentication by default: that default is right here and the notice is not the user's
    business (its other authentication warnings still print)."""
    import logging

    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
        lambda record: "enabled for this Ray cluster" not in record.getMessage()
    )


def check_ray_folders(local: bool = True) -> None:
    """Raise UsageError where Ray could not keep its files: ``~/.ray`` (``ray.init`` writes its
    auth token there) and, for a ``local`` instance, its session folder under $TMPDIR
    (``ray.init`` fails with a traceback where either cannot be written)."""
    folders = [(Path.home() / ".ray", "set HOME to a writable folder")]
    if local:
        folders.append((Path(session_folder()), "set TMPDIR (or RAY_TMPDIR) to a writable folder"))
    for folder, fix in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            problem = f"cannot be created ({e.strerror})"
        else:
            if os.access(folder, os.W_OK | os.X_OK):
                continue
            problem = "cannot be written"
        raise UsageError(f"Ray keeps its files in {folder}, which {problem}: {fix}.")


def with_resources(config: RunConfig, plan: Plan, gpu_share: float) -> Plan:
    """``plan`` with the GPUs per trial and the trials at once this cluster gives ``config``;
    ``gpu_share``: the space's GPUs per trial where --gpus-per-trial is not given."""
    import ray

    resources = ray.cluster_resources()
    gpus = config.gpus_per_trial
    if gpus is None:
        gpus = gpu_share if resources.get("GPU", 0) > 0 else 0.0
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    fit = trials_that_fit(nodes, config.cpus_per_trial, gpus)
    if fit < 1:
        raise UsageError(
            f"no node has room for one trial ({config.cpus_per_trial} CPUs, {gpus} GPUs); "
            f"the cluster has {resources.get('CPU', 0)} CPUs and {resources.get('GPU', 0)} GPUs."
        )
    return dataclasses.replace(
        plan, gpus_per_trial=gpus, max_concurrent=config.max_concurrent or fit
    )


def trials_that_fit(nodes: list[dict], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """Trials that can run at once, given each node's resources (``ray.nodes()``).

    Counted per node and per GPU, since a trial spans neither: 2 GPUs at 0.4 each fit 4 trials,
    not 5, and a GPU node's CPUs bound its own trials. Float division gets a tolerance
    (``1 // 0.2 == 4.0``).
    """
    total = 0
    for resources in nodes:
        fit = math.floor(resources.get("CPU", 0) / cpus_per_trial + 1e-6)
        if gpus_per_trial > 0:
            gpus = int(resources.get("GPU", 0) + 1e-6)
            fit = min(fit, gpus * trials_per_gpu(gpus_per_trial))
        total += fit
    return total
