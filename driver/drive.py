"""The skeleton every Tune run of this product follows, once: a search (``nas.run``) and a
refit (``nas.refit``) each say only what differs (their record, their header, their tuner).

Decode caches are built with every core before trials start; Ray is started (unless a caller
already has) and the run's resources fitted to the cluster; other nodes check their data; then,
under the driver lock of the run's folder: the record and the header, on ``--resume`` the
snapshots a kill left torn and the trial folders Tune never recorded set aside, the tuner built
or restored, fitted, the record ended and the summary written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driver.cluster import start_ray, with_resources
from driver.config import RunConfig
from driver.nodes import prepare_other_nodes
from driver.plan import Plan
from driver.resume import (
    earlier_module_names,
    set_aside_orphans,
    set_aside_torn_snapshots,
    torn_sentence,
)
from driver.study_file import whole_study
from experiment.lock import DriverLock
from search_spaces.base import SearchSpace
from trainables.tasks import get_task


@dataclass(frozen=True)
class Drive:
    """What one kind of run does in the skeleton's places."""

    begin: Callable[[Plan], None]  # record started and header printed (the lock held)
    tuner: Callable[[Plan], Any]  # the tune.Tuner, built or restored
    end: Callable[[], None]  # record ended
    orphans: Callable[[int], str]  # the line for folders Tune never recorded, set aside
    finish: Callable[[Any, float], dict]  # (grid, seconds) -> the summary


def drive(
    run: RunConfig,
    plan: Plan,
    space: SearchSpace,
    folder: str,
    lock: DriverLock,
    sizes: tuple[int, ...],
    resume: bool,
    how: Drive,
) -> dict:
    """Run ``how`` in ``folder`` and return its summary. ``plan``: what was derived before Ray
    started, completed here with the cluster's resources; ``sizes``: the image sizes the trials
    read; the seconds ``finish`` gets count from the caches built."""
    import ray

    from driver.tuner import fit

    get_task(space.task).prepare(run.data_dir, run.train_images, sizes, os.cpu_count() or 1)
    start = time.monotonic()
    if not ray.is_initialized():
        start_ray(run)
    plan = with_resources(run, plan, space.gpu_share)
    for node, line in prepare_other_nodes(space, run).items():
        print(f"on node {node}: {line}", flush=True)
    with lock:  # released at the end, on an error and after Ctrl-C; stale after a kill
        how.begin(plan)
        if resume:
            earlier_module_names()
        if resume and (torn := set_aside_torn_snapshots(folder, run.num_samples)):
            print(torn_sentence(torn), flush=True)
        if resume and (orphans := set_aside_orphans(folder)):
            print(how.orphans(len(orphans)), flush=True)
        for line in whole_study(folder, run, space) if resume else []:
            print(line, flush=True)
        grid = fit(how.tuner(plan))
        how.end()
        return how.finish(grid, time.monotonic() - start)
