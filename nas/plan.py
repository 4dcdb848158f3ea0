"""What the driver derives for one run, beside the config the user gave: ``Plan``.

``RunConfig`` stays as the flags (and the space's defaults) made it, and ``run.json`` records it
so as ``options``; a resume compares the flags given again with it. The number of classes (read
from the data), ASHA's first rung (moved later on small data by ``--min-rung-steps``) and the
resources (the GPUs a trial takes and the trials at once that the cluster fits) are derived by
the driver, in that order, and recorded once as run.json's ``plan``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    num_classes: int | None  # from the data; None: the space's default (a test's synthetic run)
    grace_period: int | None = None  # ASHA's first rung; None: no early stopping (a refit)
    rungs: tuple[int, ...] = ()  # the epochs at which ASHA may stop a trial (nas.rungs)
    gpus_per_trial: float | None = None  # None until the cluster is known (nas.cluster)
    max_concurrent: int | None = None  # likewise
