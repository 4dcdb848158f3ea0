"""``--smoke-test`` data: a tiny synthetic set in the task's real layout, for one driver's run."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from driver.config import RunConfig, space_named
from trainables.tasks import get_task


@contextlib.contextmanager
def data_in_place(config: RunConfig) -> Iterator[RunConfig]:
    """``config`` as is; for ``--smoke-test``, with ``data_dir`` a synthetic set written for
    this driver and deleted after it. The same path on every node (derived from the experiment's
    folder): each node of a cluster writes its own copy there (``driver.nodes``)."""
    if not config.smoke_test:
        yield config
        return
    task = get_task(space_named(config.space).task)
    key = hashlib.sha1(config.experiment_dir.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"nas-smoke-{key}"
    try:
        data_dir = str(task.ensure_synthetic(folder / "data"))
        print(f"Smoke test: synthetic {task.name} data in {data_dir}", flush=True)
        yield dataclasses.replace(config, data_dir=data_dir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
