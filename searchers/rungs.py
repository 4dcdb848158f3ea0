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

Tune keeps no scheduler in its snapshots: a resumed (or grown) search starts with empty rungs.
Each trial Tune restores enters them again with the results it logged (``replay``), so a new
trial is compared with every earlier one at every rung, as if the driver had never stopped.
"""

from __future__ import annotations

import math

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from experiment.logs import logged_results
from search_spaces.base import Config, is_preset
from searchers.pareto import ranked
from searchers.ray_compat import asha_metric, asha_record, asha_time, take_back_stop

ENDED = ("TERMINATED", "ERROR")  # Trial.status of a trial that will report no more


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


def restored_results(trial) -> list[dict]:
    """The results a trial Tune restored from a snapshot logged before it; none for a new
    trial (which has no folder yet)."""
    reported = "training_iteration" in (getattr(trial, "last_result", None) or {})
    return logged_results(trial) if reported else []


def best_so_far(bests: dict[str, float], trial_id: str, value: float) -> float:
    """``trial_id``'s best value so far (higher is better) with ``value``, kept in ``bests``:
    both rung rules rank a trial by it, not by its last value."""
    bests[trial_id] = max(value, bests.get(trial_id, -math.inf))
    return bests[trial_id]


class FairASHA(ASHAScheduler):
    """ASHA that rungs on each trial's best metric so far and never stops the baseline."""

    def __init__(self, *args, baseline: Config | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.baseline = baseline
        self._best: dict[str, float] = {}  # trial id -> best metric so far, in ASHA's sign

    def on_trial_add(self, tune_controller, trial) -> None:
        super().on_trial_add(tune_controller, trial)
        if results := restored_results(trial):  # from a snapshot: replay its rungs
            for result in results:
                asha_record(self, trial, self._best_so_far(trial, result))
            if trial.status in ENDED:
                self.on_trial_remove(tune_controller, trial)

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
        return {**result, metric: sign * best_so_far(self._best, trial.trial_id, sign * value)}


class ParetoASHA(FIFOScheduler):
    """Asynchronous successive halving over several objectives (MO-ASHA, Schmucker et al. 2021).

    Rungs are placed as ``FairASHA``'s (``first_rung``, then every ``reduction_factor`` times
    later). A trial that reaches a rung is recorded there with its point: the metric (its best so
    far, as ``FairASHA`` rungs on) and its size objectives (``params``, ``macs``: fixed by its
    architecture). Every trial recorded at the rung so far is ranked by non-dominated sorting,
    ties along a front broken by NSGA-II's crowding distance (``searchers.pareto.ranked``); the
    trial goes on while it is among the best ``ceil(n / reduction_factor)`` of the ``n`` (at least
    one), and is stopped otherwise. Crowding rather than an epsilon-net: it needs no scale per
    objective (parameters and accuracy differ by six orders of magnitude) and keeps each front's
    ends, so the most accurate and the smallest trial at a rung always go on. A network smaller
    than every other at its rung is on the first front whatever its score, so it goes on too; a
    tiny network is stopped only where more than the kept share are tied on the first front and
    its neighbours crowd it. The seed preset is never stopped.
    """

    def __init__(
        self,
        metric: str,
        mode: str,
        sizes: tuple[str, ...],
        max_t: int,
        grace_period: int,
        reduction_factor: int,
        time_attr: str = "training_iteration",
        baseline: Config | None = None,
    ):
        super().__init__()
        self._metric, self._mode, self.sizes = metric, mode, sizes
        self.sign = 1.0 if mode == "max" else -1.0
        self.time_attr, self.max_t, self.reduction_factor = time_attr, max_t, reduction_factor
        self.rungs = stopping_rungs(grace_period, max_t, reduction_factor)
        self.baseline = baseline
        self.recorded: dict[int, dict[str, tuple[float, ...]]] = {r: {} for r in self.rungs}
        self._best: dict[str, float] = {}  # trial id -> best metric so far, in the sign above
        self.stopped = 0

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the objectives come from the run

    def on_trial_add(self, tune_controller, trial) -> None:
        if results := restored_results(trial):  # from a snapshot: replay its rungs
            for result in results:
                self._record(trial, result)
            if trial.status in ENDED:
                self.on_trial_remove(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        rung = self._record(trial, result)
        kept = rung is None or self.kept(rung, trial.trial_id)
        if kept or is_preset(trial.config, self.baseline):
            return TrialScheduler.CONTINUE
        self.stopped += 1
        return TrialScheduler.STOP

    def _record(self, trial, result: dict) -> int | None:
        """Record ``result`` at its rung where it is one the trial is new to; that rung, else
        None. The trial's best metric so far is kept either way."""
        value = result.get(self._metric)
        if value is None or math.isnan(value):
            return None
        best = best_so_far(self._best, trial.trial_id, self.sign * value)
        rung = result.get(self.time_attr)
        if rung not in self.recorded or trial.trial_id in self.recorded[rung]:
            return None
        point = (-best, *(float(result[size]) for size in self.sizes))  # all minimised
        self.recorded[rung][trial.trial_id] = point
        return rung

    def kept(self, rung: int, trial_id: str) -> bool:
        """Whether ``trial_id`` is among the best ``ceil(n / reduction_factor)`` at ``rung``."""
        ids = list(self.recorded[rung])
        keep = max(1, math.ceil(len(ids) / self.reduction_factor))
        return ids.index(trial_id) in ranked([self.recorded[rung][i] for i in ids])[:keep]

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._best.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._best.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        return f"ParetoASHA: rungs {self.rungs}, {self.stopped} stopped"
