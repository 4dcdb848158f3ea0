"""An Optuna-backed Ray Tune searcher that never starts a candidate breaking the space's rules.

Each suggestion asks Optuna for a trial (its sampler: TPE, regularized evolution or random; see
``nas.samplers``), samples the space define-by-run, decodes it to a spec and checks the spec
against the rules. A candidate that fails is told to Optuna as infeasible
(its constraint values are positive, so TPE ranks it below every feasible trial and learns where
the budget lies) and another is drawn; Ray never sees it. Trials ASHA stops early are told as
pruned at their last epoch, so TPE compares them fairly with trials that ran to the end.
"""

from __future__ import annotations

import json
import math
import pickle
import warnings

import optuna
from ray import tune

from nas import storage
from nas.samplers import make_sampler
from search_spaces.base import Config, SearchSpace
from search_spaces.rules import check
from trainables.models.analysis import Analysis

MAX_DRAWS_PER_SUGGESTION = 500
optuna.logging.set_verbosity(optuna.logging.WARNING)


def infeasible(
    space: SearchSpace, draws: int = MAX_DRAWS_PER_SUGGESTION, seed: int = 0
) -> str | None:
    """One sentence if no network of ``space`` seems to meet its rules, before any search starts.

    The seed preset is checked first (one analysis: the usual case); if it breaks the rules,
    ``draws`` random candidates are (as many as the searcher tries before it gives up); None as
    soon as one meets them.
    """
    _, broken = check(space.decode(space.preset("seed"))[0], space.rules)
    if not broken:
        return None
    print(
        f"The seed preset breaks the rules ({'; '.join(broken)}): drawing up to {draws} "
        "candidates to see whether any network of the space meets them...",
        flush=True,
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    sizes = []
    for _ in range(draws):
        candidate, reasons = check(space.decode(space.sample(study.ask()))[0], space.rules)
        if not reasons:
            return None
        if candidate is not None:
            sizes.append(candidate.params)
    smallest = f", the smallest with {min(sizes):,} params" if sizes else ""
    return (
        f"no network of space {space.name} meets its rules ({space.rules.describe()}): the "
        f"seed preset breaks them ({'; '.join(broken)}), and so did {draws} random "
        f"candidates{smallest}; loosen the rules (--max-params) or choose another space."
    )


def trial_seed(experiment_seed: int, number: int) -> int:
    """The seed of the ``number``-th candidate drawn with experiment seed ``experiment_seed``."""
    return (experiment_seed * 1_000_003 + number) % 2**31


class FeasibleSearch(tune.search.Searcher):
    def __init__(
        self,
        space: SearchSpace,
        sampler: str,  # one of nas.samplers.SAMPLERS (RunConfig.searcher)
        seed: int,
        max_epochs: int = 1,
        num_samples: int = 16,  # sizes the sampler's start-up or population
        points_to_evaluate: list[Config] | None = None,
        rejected_log: str | None = None,
    ):
        super().__init__(metric=space.metric, mode=space.mode)
        self.space, self.seed, self.max_epochs = space, seed, max_epochs
        self._sampler = make_sampler(sampler, seed, num_samples, fixed=tuple(space.fixed))
        direction = "maximize" if space.mode == "max" else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=self._sampler)
        for point in points_to_evaluate or []:
            self.study.enqueue_trial(point)
        self.rejected_log = rejected_log  # a path or URI; rewritten whole after each suggestion
        self.rejections: list[dict] = []
        self._live: dict[str, optuna.Trial] = {}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # metric and mode come from the space

    def suggest(self, trial_id: str) -> Config | None:
        rejected_before = self.rejected
        try:
            return self._draw_feasible(trial_id)
        finally:  # the log is rewritten whole (object stores cannot append): once, not per draw
            if self.rejected_log is not None and self.rejected > rejected_before:
                lines = [json.dumps(entry) + "\n" for entry in self.rejections]
                storage.write_text(self.rejected_log, "".join(lines))

    def _draw_feasible(self, trial_id: str) -> Config:
        for _ in range(MAX_DRAWS_PER_SUGGESTION):
            trial = self.study.ask()
            config = self.space.sample(trial)
            spec, _ = self.space.decode(config)
            analysis, reasons = check(spec, self.space.rules)
            self._set_constraints(trial, analysis, reasons)
            if reasons:
                self._reject(trial, config, reasons, analysis)
                continue
            self._live[trial_id] = trial
            return {**config, "seed": trial_seed(self.seed, trial.number)}
        raise RuntimeError(
            f"{MAX_DRAWS_PER_SUGGESTION} candidates in a row broke the rules of space "
            f"{self.space.name!r} ({self.space.rules.describe()}): the space admits too few "
            "feasible architectures"
        )

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        trial = self._live.get(trial_id)
        value = result.get(self.space.metric)
        if trial is not None and value is not None and math.isfinite(value):
            trial.report(value, step=result["training_iteration"])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if result and not error:
            # Tune hands the result that ends a trial (ASHA's stop, the last epoch) only to this
            # hook: record it as that epoch's value too, so a pruned trial is compared at the
            # rung where it stopped and evolution sees every trial's last epoch. (A step already
            # reported is ignored by Optuna, with a warning that says just that.)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.on_trial_result(trial_id, result)
        trial = self._live.pop(trial_id, None)
        if trial is None:
            return
        value = (result or {}).get(self.space.metric)
        if error or value is None or not math.isfinite(value):
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        if result.get("training_iteration", 0) < self.max_epochs:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, value)

    def _set_constraints(
        self, trial: optuna.Trial, analysis: Analysis | None, reasons: list[str]
    ) -> None:
        rules = self.space.rules
        if analysis is None:  # not even buildable: infeasible on every count
            trial.set_constraint("buildable", 1.0)
            return
        trial.set_constraint("buildable", 0.0)
        if rules.params_below is not None:
            trial.set_constraint(
                "params", (analysis.params - rules.params_below + 1) / rules.params_below
            )
        if rules.receptive_field_above is not None:
            trial.set_constraint(
                "receptive_field",
                (rules.receptive_field_above + 1 - analysis.receptive_field) / 10,
            )
        # With an analysis, ``reasons`` are exactly the rule violations (``check``).
        others = [r for r in reasons if "params" not in r and "receptive" not in r]
        trial.set_constraint("structure", float(len(others)))

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def _reject(
        self, trial: optuna.Trial, config: Config, reasons: list[str], analysis: Analysis | None
    ) -> None:
        # The value is never compared: TPE ranks infeasible trials by constraint violation alone.
        self.study.tell(trial, 0.0)
        entry = {"number": trial.number, "reasons": reasons, "config": config}
        if analysis is not None:
            entry |= analysis.figures()
        self.rejections.append(entry)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
