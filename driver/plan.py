"""What the driver derives for one run, beside the config the user gave: ``Plan``.

``RunConfig`` stays as the flags (and the space's defaults) made it, and ``run.json`` records it
so as ``options``; a resume compares the flags given again with it. The number of classes (read
from the data), ASHA's first rung (moved later on small data by ``--min-rung-steps``) and the
resources (the GPUs a trial takes and the trials at once that the cluster fits) are derived by
the driver, in that order, and recorded once as run.json's ``plan``.
"""

from __future__ import annotations

from dataclasses import dataclass

from driver.config import RunConfig
from searchers.rungs import first_rung, steps_per_epoch, stopping_rungs
from trainables.tasks import get_task


@dataclass(frozen=True)
class Plan:
    num_classes: int | None  # from the data; None: the space's default (a test's synthetic run)
    grace_period: int | None = None  # ASHA's first rung; None: no early stopping (a refit)
    rungs: tuple[int, ...] = ()  # the epochs at which ASHA may stop a trial (searchers.rungs)
    gpus_per_trial: float | None = None  # None until the cluster is known (driver.cluster)
    max_concurrent: int | None = None  # likewise


def plan_search(config: RunConfig, space, num_classes: int | None) -> tuple[Plan, str]:
    """The search's plan before Ray starts: the data's classes, and ASHA's first rung placed
    after --min-rung-steps steps of the largest batch (searchers.rungs); the steps an epoch
    takes are returned too, for the header to say why the rung is there (and, where there is
    none, which flags would give one)."""
    images = get_task(space.task).training_images(
        config.data_dir, config.val_fraction, config.train_images
    )
    grace = first_rung(
        config.grace_period, config.max_epochs, config.min_rung_steps, images, space.batch_sizes
    )
    largest = max(space.batch_sizes)
    steps = steps_per_epoch(images, largest)
    why = (
        f"an epoch of {images:,} images is {steps} optimizer step{'s' if steps > 1 else ''} at "
        f"batch {largest}, and every batch size takes {config.min_rung_steps} steps before a "
        "trial can be stopped (--min-rung-steps)"
    )
    rungs = tuple(stopping_rungs(grace, config.max_epochs, config.reduction_factor))
    if not rungs:
        why += f"; {rung_fix(config, steps)}"
    return Plan(num_classes, grace_period=grace, rungs=rungs), why


def rung_fix(config: RunConfig, steps: int) -> str:
    """The flags that would let ASHA stop trials in a search with no rung before its last
    epoch (``steps``: an epoch's optimizer steps at the largest batch)."""
    if config.max_epochs < 2:
        return "a trial of one epoch has no rung before its last: give --max-epochs 2 or more"
    epoch = max(1, config.max_epochs // config.reduction_factor)
    flags = [f"--grace-period {epoch}"] if config.grace_period > epoch else []
    if config.min_rung_steps > epoch * steps:
        flags.append(f"--min-rung-steps {epoch * steps}")
    return f"to let ASHA stop trials at epoch {epoch}, give {' '.join(flags)}"


def asha_line(config: RunConfig, plan: Plan, why: str) -> str:
    """Where ASHA may stop trials in this search and why there: the first rung moved from the
    --grace-period asked for, or kept there, by the steps an epoch takes (``why``)."""
    rungs = plan.rungs
    if rungs:
        where = f"epochs {', '.join(map(str, rungs))}" if len(rungs) > 1 else f"epoch {rungs[0]}"
        line = (
            f"ASHA may stop a trial at {where}, keeping the best 1/{config.reduction_factor} of "
            f"the trials at each rung"
            + (" (by non-dominated sorting, ties spread by crowding)" if config.sizes else "")
        )
        first = f"the first rung is at epoch {rungs[0]}"
    else:
        line, first = "ASHA stops no trial in this search", "no rung comes before the last epoch"
    if plan.grace_period != config.grace_period:
        line += f" (--grace-period {config.grace_period} asked; {first} because {why})"
    elif not rungs:  # the --grace-period asked is the last epoch
        line += f" (--grace-period {config.grace_period} is its last epoch; {why})"
    elif config.min_rung_steps and rungs:
        line += f" ({why}: a rung at epoch {rungs[0]} is allowed)"
    return line + "."
