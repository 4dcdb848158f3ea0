"""ASHA with fair rungs and a protected baseline.

Plain ASHA compares trials by their metric at fixed epochs. On a small data set that rewards
fast starters: a batch-64 candidate has taken twice the optimizer steps of a batch-128 one by
epoch 1, and a candidate whose cosine cycle just restarted is judged at its peak learning rate.
Three changes make the rung decisions fairer and keep an honest comparison to the end:

- The first rung comes only after every batch size the space can draw has taken
  ``min_rung_steps`` optimizer steps (``first_rung``), so no trial is judged on a handful of
  updates; rungs stay in epochs, so every trial is still judged on the same images.
- A trial enters a rung with its best metric so far, not its last: a warm restart just before
  the rung does not count against it.
- The space's seed preset (the baseline) is never stopped early: it always runs to the last
  epoch, so the search ends with the best trial and the baseline compared at equal epochs.
"""

from __future__ import annotations

import math

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from search_spaces.base import Config, is_preset
from searchers.ray_compat import asha_metric, asha_time, take_back_stop


def steps_per_epoch(images: int, batch_size: int) -> int:
    return math.ceil(images / batch_size)  # the loaders keep the last, partial batch


def first_rung(
    grace_period: int, max_epochs: int, min_steps: int, images: int, batch_sizes: tuple[int, ...]
) -> int:
    """The first epoch at which ASHA may stop a trial: at least ``grace_period``, and late enough
    that the largest batch size has taken ``min_steps`` optimizer steps; at most ``max_epochs``
    (where ASHA stops nothing).
    """
    slowest = steps_per_epoch(images, max(batch_sizes))
    return min(max_epochs, max(grace_period, math.ceil(min_steps / slowest)))


def stopping_rungs(first: int, max_epochs: int, reduction_factor: int) -> list[int]:
    """The epochs at which ASHA may stop a trial: its rungs before the last epoch (Ray's
    ``AsyncHyperBandScheduler`` places them at ``first * reduction_factor ** k``)."""
    rungs, epoch = [], first
    while epoch < max_epochs:
        rungs.append(epoch)
        epoch *= reduction_factor
    return rungs


class FairASHA(ASHAScheduler):
    """ASHA that rungs on each trial's best metric so far and never stops the baseline."""

    def __init__(self, *args, baseline: Config | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.baseline = baseline
        self._best: dict[str, float] = {}  # trial id -> best metric so far, in ASHA's sign

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, self._best_so_far(trial, result))
        protected = is_preset(trial.config, self.baseline)
        time_attr, max_t = asha_time(self)
        if action == TrialScheduler.STOP and protected and result[time_attr] < max_t:
            take_back_stop(self)
            return TrialScheduler.CONTINUE
        return action

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        super().on_trial_complete(tune_controller, trial, self._best_so_far(trial, result))
        self._best.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller, trial) -> None:
        super().on_trial_remove(tune_controller, trial)
        self._best.pop(trial.trial_id, None)

    def _best_so_far(self, trial, result: dict) -> dict:
        metric, sign = asha_metric(self)
        value = result.get(metric)
        if value is None or math.isnan(value):
            return result
        best = max(sign * value, self._best.get(trial.trial_id, -math.inf))
        self._best[trial.trial_id] = best
        return {**result, metric: sign * best}
