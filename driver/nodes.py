"""Work done once on every node of the Ray cluster before any trial starts.

The driver checks the data where it runs; a trial runs wherever Ray places it, so each other
node checks its own copy too (and, for ``--smoke-test``, writes the synthetic set there first).
A node without the data fails the search before it starts, naming the node.
"""

from __future__ import annotations

import os

from trainables.data import DataError
from trainables.tasks import get_task


def prepare_node(
    task: str, data_dir: str, synthetic: bool, train_images: int | None, sizes: tuple[int, ...]
) -> str:
    """On one node: the synthetic data if asked, the data check, then the task's preparation
    (decoding caches with every core of the node); the check's one-line summary."""
    try:
        if synthetic:
            get_task(task).ensure_synthetic(data_dir)
        found = get_task(task).check(data_dir)[1]
        get_task(task).prepare(data_dir, train_images, sizes, os.cpu_count() or 1)
        return found
    except DataError as e:
        return f"error: {e}"
    except Exception as e:  # a read-only /tmp, a full disk: said in one line, not a traceback
        return f"error: {type(e).__name__}: {e}"


def prepare_other_nodes(space, config) -> dict[str, str]:
    """Run ``prepare_node`` on every live node that can run trials, other than the driver's.

    Returns the summary line per node (address and id: nodes may share a host); raises
    DataError naming the first node whose data is missing or broken.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    nodes = [
        n
        for n in ray.nodes()
        if n["Alive"] and n["NodeID"] != here and n["Resources"].get("CPU", 0) > 0
    ]
    remote = ray.remote(num_cpus=0)(prepare_node)
    pending = {
        f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})": remote.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(
            space.task,
            config.data_dir,
            config.smoke_test,
            config.train_images,
            space.image_sizes(),
        )
        for n in nodes
    }
    found = {}
    for address, ref in pending.items():
        try:
            found[address] = ray.get(ref, timeout=600)
        except (ray.exceptions.RayError, TimeoutError) as e:  # the node died or never ran it
            first_line = (str(e).splitlines() or [type(e).__name__])[0]
            raise DataError(
                f"on node {address}: the data check did not run ({first_line}); check that the "
                "node is alive (`ray status`) or remove it from the cluster."
            ) from None
    for address, line in found.items():
        if line.startswith("error: "):
            raise DataError(f"on node {address}: {line.removeprefix('error: ')}")
    return found
