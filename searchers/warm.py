"""Warm start: a new search's study begins with what earlier searches of its space learnt.

Each trial of an earlier study is carried over as knowledge, not as a trial of the new search:
marked with ``WARM_START`` ("<experiment>#<number>"), without a Tune trial id, never trained or
refit here. How it counts, for a search of ``max_epochs`` epochs:

- a trial that reached ``max_epochs`` (or ran longer: its value at that epoch) counts as
  finished there, at its value;
- a trial stopped early, or from a search of fewer epochs, counts as pruned at its last epoch,
  as this search's own stopped trials do: TPE ranks it below every finished trial, by the
  epoch it reached, then by its value; evolution and the prior's incumbent see its last epoch;
- a candidate the rules rejected keeps its constraint values: the searcher knows where the
  budget lies without drawing it again;
- a failed or unfinished trial carries nothing.

A trial trained on another ``--train-images`` counts the same: fewer images lower every trial's
score alike, and the ranking is what the samplers use. A Pareto search is told each trial's
sizes from the space's analysis, whatever the earlier search minimised.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from experiment.journal import EPOCHS, REJECTION, TUNE_TRIAL_ID, epochs
from search_spaces.base import Config, SearchSpace
from search_spaces.rules import check

WARM_START = "warm_start"  # the user attribute of a trial carried over: where it came from


def knowledge(
    trials: list[FrozenTrial],
    source: str,
    space: SearchSpace,
    max_epochs: int,
    sizes: tuple[str, ...] = (),
) -> list[FrozenTrial]:
    """The trials of an earlier study (``source`` names its experiment) as a new search of
    ``space`` with ``max_epochs`` and ``sizes`` counts them (the module's rules)."""
    carried = []
    for trial in trials:
        attrs = {k: v for k, v in trial.user_attrs.items() if k not in (TUNE_TRIAL_ID, EPOCHS)}
        attrs[WARM_START] = f"{source}#{trial.number}"
        if REJECTION in trial.user_attrs:
            if trial.state == TrialState.COMPLETE:
                figures = trial.user_attrs[REJECTION]
                values = [0.0, *(float(figures.get(size, 0)) for size in sizes)]
                carried.append(made(trial, TrialState.COMPLETE, values, {}, attrs, sizes))
            continue
        by_epoch = {e: v for e, v in epochs(trial).items() if e <= max_epochs}
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED) or not by_epoch:
            continue
        last = max(by_epoch)
        if last < max_epochs:
            carried.append(made(trial, TrialState.PRUNED, None, by_epoch, attrs, sizes))
            continue
        figures = sizes_of(space, config_of(space, trial), sizes)
        carried.append(
            made(trial, TrialState.COMPLETE, [by_epoch[last], *figures], by_epoch, attrs, sizes)
        )
    return carried


def made(
    trial: FrozenTrial,
    state: TrialState,
    values: list[float] | None,
    by_epoch: dict[int, float],
    attrs: dict,
    sizes: tuple[str, ...],
) -> FrozenTrial:
    """``trial`` as the new study holds it: one value, or the metric and ``sizes``; its epochs
    as intermediate values, or in a Pareto study its ``EPOCHS`` user attribute."""
    if sizes and by_epoch:
        attrs = {**attrs, EPOCHS: {str(e): v for e, v in by_epoch.items()}}
    return optuna.trial.create_trial(
        state=state,
        values=values if sizes or values is None else values[:1],
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=attrs,
        system_attrs=trial.system_attrs,  # the rules' constraint values among them
        intermediate_values={} if sizes else by_epoch,
    )


def config_of(space: SearchSpace, trial: FrozenTrial) -> Config:
    """The configuration ``trial``'s parameters make in ``space``."""
    return space.sample(optuna.trial.FixedTrial(trial.params))


def sizes_of(space: SearchSpace, config: Config, sizes: tuple[str, ...]) -> list[float]:
    if not sizes:
        return []
    analysis, _ = check(space.decode(config)[0], space.rules, space.analyze)
    figures = analysis.figures() if analysis is not None else {}
    return [float(figures.get(size, 0)) for size in sizes]


def best_configs(carried: list[FrozenTrial], space: SearchSpace, k: int) -> list[Config]:
    """The ``k`` best finished configurations of ``carried`` by the metric, best first."""
    finished = [
        t for t in carried if t.state == TrialState.COMPLETE and REJECTION not in t.user_attrs
    ]
    sign = 1 if space.mode == "max" else -1
    finished.sort(key=lambda t: sign * t.values[0], reverse=True)
    return [config_of(space, t) for t in finished[:k]]
