"""Data sets as registered tasks: each ``trainables/tasks/<name>.py`` defines one ``Task``.

A search space names its task; everything else asks the task object (``get_task``), which says
what differs between data sets by its attributes (``has_test_labels``, ``verifies``...).
"""

from __future__ import annotations

import functools

from trainables.registry import Registry
from trainables.tasks.base import PairSet, Task, TaskData, VerifySet
from trainables.tasks.cifar10 import CIFAR10
from trainables.tasks.hw2p2 import HW2P2

TASKS: Registry[Task] = Registry("task")
for _task in (CIFAR10, HW2P2):
    TASKS.add(_task.name, _task)

__all__ = ["TASKS", "PairSet", "Task", "TaskData", "VerifySet", "cached_task", "get_task"]


def get_task(name: str) -> Task:
    """The task called ``name``; the error lists the known names."""
    return TASKS.named(name)


@functools.lru_cache(maxsize=1)
def cached_task(
    name: str, data_dir: str, val_fraction: float | None, train_images: int | None, image_size: int
) -> TaskData:
    """``get_task(name).load(...)``, kept for the next trial in the same process.

    Tune reuses a trial's actor for the next trial with the same resources, so the trials of a
    search load (and, for faces, decode) their data once per worker rather than once per trial.
    Safe to share: training only reads the arrays, and ``reseed`` resets the augmentation state
    at the start of every epoch.
    """
    return get_task(name).load(data_dir, val_fraction, train_images, image_size)
