"""An Optuna-backed Ray Tune searcher that never starts a candidate breaking the space's rules.

Each suggestion asks Optuna for a trial (its sampler: prior-guided, TPE, regularized evolution
or random; see ``searchers``), samples the space define-by-run, decodes it to a spec and
checks the spec against the rules. A candidate that fails is told to Optuna as infeasible (its
constraint values are positive, so TPE ranks it below every feasible trial and learns where
the budget lies) and another is drawn; Ray never sees it. Trials ASHA stops early are told as
pruned at their last epoch, so TPE compares them fairly with trials that ran to the end.

A Pareto search (``sizes``: ``params`` and/or ``macs``) has a study of several objectives: a
finished trial is told (metric, sizes), and since Optuna refuses intermediate values there, each
epoch's metric is kept in the trial's ``EPOCHS`` user attribute instead.

The study lives in Optuna's journal file storage in the experiment folder (``STUDY``), so Optuna's
own tools open it while the search runs (``optuna-dashboard <experiment>/study.journal``,
``optuna.load_study``). The journal, not the pickle Tune saves with each snapshot, is the study's
truth: a restored searcher reopens it and settles what happened between the snapshot and a kill
(``_settle``), so no trial is lost or counted twice. An experiment on a URI keeps its study in
memory, pickled with the snapshot, as Tune's own Optuna searcher does.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from ray import tune

from experiment import storage
from experiment.journal import EPOCHS, REJECTION, TUNE_TRIAL_ID, epochs, journal_storage
from search_spaces.base import Config, SearchSpace
from search_spaces.rules import Rules, check
from searchers import make_sampler
from searchers.optuna_compat import forget_unused_draws, set_intermediate_value, set_user_attr
from searchers.study import reopened, rewrite
from trainables.models.analysis import Analysis

MAX_DRAWS_PER_SUGGESTION = 500
SIZES = ("params", "macs")  # what a Pareto search may minimise beside the metric (the analysis)


def objective_names(objectives: str | None) -> list[str]:
    """The names an ``--objectives`` value gives, the metric first (none where it is not set)."""
    return [name.strip() for name in objectives.split(",")] if objectives is not None else []


optuna.logging.set_verbosity(optuna.logging.WARNING)


def infeasible(
    space: SearchSpace, draws: int = MAX_DRAWS_PER_SUGGESTION, seed: int = 0
) -> str | None:
    """One sentence if no network of ``space`` seems to meet its rules, before any search starts.

    The seed preset is checked first (one analysis: the usual case); if it breaks the rules,
    ``draws`` random candidates are (as many as the searcher tries before it gives up); None as
    soon as one meets them.
    """
    _, broken = check(space.decode(space.preset("seed"))[0], space.rules, space.analyze)
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
        spec = space.decode(space.sample(study.ask()))[0]
        candidate, reasons = check(spec, space.rules, space.analyze)
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


def directions(space: SearchSpace, sizes: tuple[str, ...] = ()) -> list[str]:
    """The study's directions: the space's metric, then each size of a Pareto search, least."""
    return ["maximize" if space.mode == "max" else "minimize"] + ["minimize"] * len(sizes)


def drawable(config: Config, space: SearchSpace) -> Config:
    """``config`` without the knobs the run fixes (``--input-size``): the run sets them over
    what the sampler draws, and a fixed value need not be one the space draws (the smoke
    test's 32 px)."""
    return {k: v for k, v in config.items() if k not in space.fixed}


def trial_number(experiment_seed: int, seed: int) -> int:
    """The number of the candidate whose seed is ``seed`` (``trial_seed`` inverted)."""
    return (seed - experiment_seed * 1_000_003) % 2**31


def set_constraints(
    trial: optuna.Trial, rules: Rules, analysis: Analysis | None, reasons: list[str]
) -> None:
    """Tell Optuna how far a candidate lies outside the space's ``rules`` (0 or less: inside)."""
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
            "receptive_field", (rules.receptive_field_above + 1 - analysis.receptive_field) / 10
        )
    # With an analysis, ``reasons`` are exactly the rule violations (``check``).
    others = [r for r in reasons if "params" not in r and "receptive" not in r]
    trial.set_constraint("structure", float(len(others)))


class FeasibleSearch(tune.search.Searcher):
    def __init__(
        self,
        space: SearchSpace,
        sampler: str,  # one of searchers.SAMPLERS (RunConfig.searcher)
        seed: int,
        max_epochs: int = 1,
        num_samples: int = 16,  # sizes the sampler's start-up or population
        points_to_evaluate: list[Config] | None = None,
        rejected_log: str | None = None,
        journal: str | None = None,  # the study's journal file; None: the study stays in memory
        name: str = "search",
        sizes: tuple[str, ...] = (),  # SIZES minimised beside the metric: a Pareto search
        warm_start: list[FrozenTrial] = (),  # earlier searches' trials (searchers.warm)
    ):
        super().__init__(metric=space.metric, mode=space.mode)
        self.space, self.seed, self.max_epochs, self.sizes = space, seed, max_epochs, sizes
        self._sampler = make_sampler(
            sampler,
            seed,
            num_samples,
            fixed=tuple(space.fixed),
            prior=space.preset("seed") if "seed" in space.presets else None,
            kinds=space.kinds,
        )
        self.journal, self.name = journal, name
        self.study = self._open_study()
        if not self.study.get_trials(deepcopy=False):  # a new study, not one reopened
            self.study.add_trials(warm_start)
        for point in points_to_evaluate or []:  # a knob the run fixes is set over each draw
            self.study.enqueue_trial(drawable(point, space))
        self.rejected_log = rejected_log  # a path or URI; rewritten whole after each suggestion
        self._live: dict[str, int] = {}  # Tune's trial id -> the Optuna trial's number
        self.suggested = 0  # configs handed to Tune: its trials (resume checks the count)
        self._unsettled = False  # restored from a pickle and not yet settled (``_settle``)

    def _open_study(self) -> optuna.Study:
        storage = None
        if self.journal is not None:
            Path(self.journal).parent.mkdir(parents=True, exist_ok=True)
            storage = journal_storage(self.journal)
        return optuna.create_study(
            study_name=self.name,
            storage=storage,
            directions=directions(self.space, self.sizes),
            sampler=self._sampler,
            load_if_exists=True,
        )

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # metric and mode come from the space

    def suggest(self, trial_id: str) -> Config | None:
        self._settled()
        rejected_before = self.rejected
        try:
            return self._draw_feasible(trial_id)
        finally:  # the log is rewritten whole (object stores cannot append): once, not per draw
            if self.rejected_log is not None and self.rejected > rejected_before:
                lines = [json.dumps(entry) + "\n" for entry in self.rejections()]
                storage.write_text(self.rejected_log, "".join(lines))

    def _draw_feasible(self, trial_id: str) -> Config:
        for _ in range(MAX_DRAWS_PER_SUGGESTION):
            trial = self.study.ask()
            config = self.space.sample(trial)
            spec, _ = self.space.decode(config)
            analysis, reasons = check(spec, self.space.rules, self.space.analyze)
            set_constraints(trial, self.space.rules, analysis, reasons)
            if reasons:
                self._reject(trial, config, reasons, analysis)
                continue
            trial.set_user_attr(TUNE_TRIAL_ID, trial_id)  # the reports' name, in the dashboard
            forget_unused_draws(self.study, trial)
            self._live[trial_id] = trial.number
            if self.suggested is not None:
                self.suggested += 1
            return {**config, "seed": trial_seed(self.seed, trial.number)}
        raise RuntimeError(
            f"{MAX_DRAWS_PER_SUGGESTION} candidates in a row broke the rules of space "
            f"{self.space.name!r} ({self.space.rules.describe()}): the space admits too few "
            "feasible architectures"
        )

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._settled()
        number = self._live.get(trial_id)
        value = result.get(self.space.metric)
        if number is None or value is None or not math.isfinite(value):
            return
        frozen, step = self.study.get_trials(deepcopy=False)[number], result["training_iteration"]
        if step in epochs(frozen):  # a replay after a restore: told already
            return
        if self.sizes:  # Optuna refuses intermediate values with several objectives
            logged = {**frozen.user_attrs.get(EPOCHS, {}), str(step): float(value)}
            set_user_attr(self.study, frozen, EPOCHS, logged)
        else:
            set_intermediate_value(self.study, frozen, step, float(value))  # as Trial.report

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        self._settled()
        if result and not error:
            # Tune hands the result that ends a trial (ASHA's stop, the last epoch) only to this
            # hook: record it as that epoch's value too, so a pruned trial is compared at the
            # rung where it stopped and evolution sees every trial's last epoch.
            self.on_trial_result(trial_id, result)
        trial = self._live.pop(trial_id, None)  # its number
        if trial is None:
            return
        value = (result or {}).get(self.space.metric)
        if error or value is None or not math.isfinite(value):
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        if result.get("training_iteration", 0) < self.max_epochs:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, self._values(value, result))

    def _values(self, value: float, figures: dict) -> float | list[float]:
        """What the study is told: the metric, and the sizes of a Pareto search."""
        return (
            [value, *(float(figures.get(size, 0)) for size in self.sizes)] if self.sizes else value
        )

    @property
    def rejected(self) -> int:
        return len(self.rejections())

    def rejections(self) -> list[dict]:
        """The candidates that broke the rules, as told to the study: number, reasons, config
        and the network's figures where it could be built."""
        trials = self.study.get_trials(deepcopy=False)
        return [
            {"number": t.number, **t.user_attrs[REJECTION]}
            for t in trials
            if REJECTION in t.user_attrs
        ]

    def _reject(
        self, trial: optuna.Trial, config: Config, reasons: list[str], analysis: Analysis | None
    ) -> None:
        entry = {"reasons": reasons, "config": config}
        if analysis is not None:
            entry |= analysis.figures()
        trial.set_user_attr(REJECTION, entry)
        # The value is never compared: TPE ranks infeasible trials by constraint violation alone.
        self.study.tell(trial, self._values(0.0, entry))

    # Tune pickles the searcher with the Tuner and saves it with every snapshot; a study in a
    # journal is reopened from the file instead (its storage holds a file handle and a lock),
    # and settled against the state it was pickled with before its next use.
    # Reopened at its first use, not when unpickled: Tune unpickles the searcher it started with
    # (tuner.pkl) before the snapshot's, whose journal may lie elsewhere (a moved experiment,
    # ``driver.resume.relocate``).
    def __getstate__(self) -> dict:
        asked = self._asked if self.study is None else len(self.study.get_trials(deepcopy=False))
        return {**self.__dict__, "study": None if self.journal else self.study, "_asked": asked}

    def __setstate__(self, state: dict) -> None:
        # None: pickled before the count; (): before Pareto searches
        self.__dict__.update({"suggested": None, "sizes": ()} | state)
        self._unsettled = self.journal is not None

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__getstate__(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__setstate__(pickle.load(f))

    def _settled(self) -> None:
        if self._unsettled:
            self._settle()

    def _settle(self) -> None:
        """Make the journal agree with the snapshot Tune resumes from (after a kill between
        the two), once, before the restored searcher's first use.

        Trials are asked in number order, so those the snapshot does not know are the journal's
        last ones: they are dropped, finished or not, since Tune never recorded them and asks
        again. A trial the snapshot has running that finished since is running again: Tune
        replays it from its checkpoint and may end it otherwise (ASHA decides anew), and the
        study records that end. Either way the journal is rewritten whole.
        """
        self._unsettled = False
        self.study = self._open_study()
        trials = self.study.get_trials(deepcopy=False)
        live = set(self._live.values())
        kept = trials[: self._asked]
        ended = {t.number for t in kept if t.number in live and t.state.is_finished()}
        if len(trials) > len(kept) or ended:
            rewrite(
                self.journal, self.study, [reopened(t) if t.number in ended else t for t in kept]
            )
            self.study = self._open_study()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.number not in live:  # none, unless Tune lost a trial it was told of
                self.study.tell(t.number, state=TrialState.FAIL)
