"""What mattered in a search: each knob's share of the variance of the search's metric (Optuna's
fANOVA importance), on the trials that reached the same ASHA rung, read from the study's journal.

Trials stopped at different epochs are not comparable, so the importance is computed at one rung:
the highest that at least ``MIN_TRIALS`` trials reached, on the metric they had there. Knobs that
only some of those trials have (a fourth block's width) or that never varied are left out. With
fewer trials at every rung the result says so instead of giving numbers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import optuna
import pandas as pd
from optuna.trial import TrialState

from experiment.journal import REJECTION, epochs
from searchers.warm import WARM_START

MIN_TRIALS = 8  # below this, a random forest on the knobs says more about chance than the knobs
EVALUATOR = "fANOVA"
optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory"


@dataclass(frozen=True)
class Importance:
    metric: str
    rung: int | None  # the epoch the trials were compared at; None where too few reached one
    trials: int  # how many trials the figures rest on (or the most that reached any rung)
    table: pd.DataFrame  # knob, importance (summing to 1), most important first; empty if none
    note: str  # one sentence: what the figures rest on, or why there are none

    def top(self, count: int = 3) -> str:
        """``note`` and the first ``count`` knobs, for the end of ``nas.run``."""
        shares = ", ".join(
            f"{row.knob} {row.importance:.2f}" for row in self.table.head(count).itertuples()
        )
        return f"{self.note}: {shares}" if shares else self.note

    def summary(self) -> dict:
        """For summary.json: the sentence, the rung and trials, every knob's share, the top."""
        knobs = dict(zip(self.table["knob"], self.table["importance"], strict=True))
        return {
            "note": self.note,
            "rung": self.rung,
            "trials": self.trials,
            "knobs": knobs,
            "top": self.top(),
        }


def importance(study: optuna.Study | None, metric: str, rungs: list[int]) -> Importance:
    """The knobs' importance for ``metric`` (the study's objective) at the highest of the
    search's ``rungs`` (epochs, ascending; empty: the trials' last epochs) that enough reached."""
    none = pd.DataFrame(columns=["knob", "importance"])
    if study is None:
        return Importance(
            metric, None, 0, none, "No Optuna study in the experiment folder, so no importance"
        )
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        and epochs(t)
        and REJECTION not in t.user_attrs
        and WARM_START not in t.user_attrs  # knowledge of earlier searches: not this one's
    ]
    by_epoch = {t.number: epochs(t) for t in trials}  # a Pareto search keeps them apart
    rungs = rungs or sorted({max(by_epoch[t.number]) for t in trials})
    reached = {r: [t for t in trials if r in by_epoch[t.number]] for r in rungs}
    rung = max((r for r, at in reached.items() if len(at) >= MIN_TRIALS), default=None)
    if rung is None:
        most = max((len(at) for at in reached.values()), default=0)
        return Importance(
            metric,
            None,
            most,
            none,
            f"No importance yet: {most} trials at most reached the same rung, and "
            f"{MIN_TRIALS} are needed",
        )
    at_rung = reached[rung]
    knobs = [
        k
        for k in set.intersection(*(set(t.params) for t in at_rung))
        if len({repr(t.params[k]) for t in at_rung}) > 1
    ]
    if not knobs:
        return Importance(
            metric, rung, len(at_rung), none, "No knob varied between the trials at the rung"
        )
    direction = study.directions[0]  # the metric's, in a Pareto search too
    study = optuna.create_study(direction=direction)  # the trials at the rung, valued there
    study.add_trials(
        optuna.trial.create_trial(
            params={k: t.params[k] for k in knobs},
            distributions={k: t.distributions[k] for k in knobs},
            value=by_epoch[t.number][rung],
        )
        for t in at_rung
    )
    with warnings.catch_warnings():  # fANOVA is marked experimental in places
        warnings.simplefilter("ignore")
        shares = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=knobs
        )
    table = pd.DataFrame({"knob": list(shares), "importance": [float(v) for v in shares.values()]})
    note = (
        f"What mattered ({EVALUATOR} importance of {metric} at epoch {rung}, over the "
        f"{len(at_rung)} trials that reached it)"
    )
    return Importance(metric, rung, len(at_rung), table, note)
