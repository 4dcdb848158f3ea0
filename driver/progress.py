"""The live console of a search or a refit: one line of counts and the time left, then a short
table of the trials, best first. It prints when a trial ends and at most every 30 s otherwise
(Ray's own status table prints every column of every trial every 15 s: 1,500 of a demo's
1,672 lines), and it says what the summary will say: its counts are the summary's counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from ray import tune

from experiment.trials import rejected_candidates
from reports.ranking import n_epochs
from search_spaces.base import Config, is_preset

ENDED = ("TERMINATED", "ERROR")


class Progress(tune.ProgressReporter):
    """Tune's progress reporter for ``nas.run`` and ``nas.refit``.

    ``columns``: the config keys shown (the space's ``progress_columns``); ``scores``: the
    metrics shown, the first one ranking the trials where the search has a metric;
    ``asha``: whether trials can be stopped early (a search) or all train ``max_epochs`` (a
    refit); ``baseline``: the seed preset, marked in the table; ``experiment``: the folder whose
    rejected candidates are counted. Tune pickles the reporter with the experiment (tuner.pkl),
    so it holds plain data only.
    """

    def __init__(
        self,
        columns: Sequence[str],
        scores: Sequence[str],
        max_epochs: int,
        asha: bool,
        baseline: Config | None = None,
        experiment: str | None = None,
        every_s: float = 30.0,
        rows: int = 6,
    ):
        self.columns, self.scores = tuple(columns), tuple(scores)
        self.max_epochs, self.asha, self.baseline = max_epochs, asha, baseline
        self.experiment, self.every_s, self.rows = experiment, every_s, rows
        self.mode, self.ranked, self.total = "max", False, None
        self.setup()

    def setup(self, start_time=None, total_samples=None, metric=None, mode=None, **kwargs):
        """Called by Tune as each run (or resumed run) starts."""
        self._start = self._last = time.monotonic()
        self._epochs_at_start: int | None = None  # epochs trained before this run (a resume)
        self._printed = (0, 0)  # (trials ended, epochs trained) at the last print
        self._ended: set[str] = set()  # the trials that had ended at the last print
        self._hidden = 0  # the trials the last print's table left out
        # the rejected candidates the console has named (those before a resume: none to name)
        self._rejected = len(rejected_candidates(self.experiment)[0]) if self.experiment else 0
        self._finish: float | None = None  # when the run should end, as the last print said
        self.total = total_samples
        self.ranked = metric is not None
        self.mode = mode or "max"
        if metric is not None and metric in self.scores:  # the ranking metric first
            self.scores = (metric, *(s for s in self.scores if s != metric))

    def should_report(self, trials, done: bool = False) -> bool:
        now = seen(trials)
        if self._epochs_at_start is None:
            self._epochs_at_start = now[1]
        if now == self._printed:  # unless the end can show the trials the last print left out
            return done and self._hidden > 0
        return done or now[0] > self._printed[0] or time.monotonic() - self._last >= self.every_s

    def report(self, trials, done: bool, *sys_info: str) -> None:
        self._printed = seen(trials)
        self._last = time.monotonic()
        lines = self.lines(trials, self._last - self._start, done)
        self._ended = {t.trial_id for t in trials if t.status in ENDED}
        print("\n".join(lines), flush=True)

    def lines(self, trials, elapsed_s: float, done: bool = False) -> list[str]:
        """The counts line, the candidates rejected since the last print and the table, for
        ``trials`` ``elapsed_s`` into this run (``done``: the last print, with more rows)."""
        return [self.headline(trials, elapsed_s), *self.rejections(), *self.table(trials, done)]

    def rejections(self, most: int = 3) -> list[str]:
        """A line for each candidate rejected since the last print (``most``, then a count)."""
        if self.experiment is None:
            return []
        found = rejected_candidates(self.experiment)[0]
        new, self._rejected = found[self._rejected :], len(found)
        lines = [f"  rejected {r['number']}: {'; '.join(map(str, r['reasons']))}" for r in new]
        more = f"  ... and {len(new) - most} more rejected (rejected.jsonl)"
        return lines[:most] + ([more] if len(new) > most else [])

    def headline(self, trials, elapsed_s: float) -> str:
        ended = [t for t in trials if t.status in ENDED]
        failed = sum(map(has_failed, ended))
        full = sum(epochs(t) >= self.max_epochs for t in ended if not has_failed(t))
        open_trials = sum(t.status not in ENDED for t in trials)
        total = self.total or len(trials)
        how = [f"{full} ran every epoch"]
        if self.asha:
            how.append(f"{len(ended) - failed - full} stopped early by ASHA")
        how.append(f"{failed} failed")
        parts = [
            f"[{clock(elapsed_s)}] {len(ended)} of {total} trials ended ({', '.join(how)}), "
            f"{open_trials} running or waiting",
            f"{n_epochs(trained(trials))} trained",
        ]
        if self.experiment is not None and (n := len(rejected_candidates(self.experiment)[0])):
            parts.append(f"{n} candidate{'s' * (n != 1)} rejected by the rules")
        if (left := self.time_left(trials, elapsed_s)) is not None:
            parts.append(f"about {duration(self.steadied(elapsed_s + left) - elapsed_s)} left")
        return "; ".join(parts)

    def time_left(self, trials, elapsed_s: float) -> float | None:
        """Seconds left at this run's pace (epochs per second so far), once 3 epochs have run:
        each trial still to end trains as many epochs as the ended ones did on average (all
        ``max_epochs`` before any has ended, or without ASHA)."""
        done_here = trained(trials) - (self._epochs_at_start or 0)
        if done_here < 3 or elapsed_s <= 0:
            return None
        ended = [epochs(t) for t in trials if t.status in ENDED]
        expected = sum(ended) / len(ended) if ended and self.asha else self.max_epochs
        open_trials = [t for t in trials if t.status not in ENDED]
        left = sum(max(expected - epochs(t), 1.0) for t in open_trials)
        left += max((self.total or 0) - len(trials), 0) * expected
        return left / (done_here / elapsed_s) if left else None

    def steadied(self, finish: float) -> float:
        """The run's end halfway between this estimate and the last print's: each trial ASHA
        stops or lets through moves the epochs expected per trial, and the estimate with it."""
        self._finish = finish if self._finish is None else (self._finish + finish) / 2
        return self._finish

    def table(self, trials, done: bool = False) -> list[str]:
        """The best ``rows`` trials (20 at the end), every running one and every one that ended
        since the last print, ranked; then how many more there are."""
        ranked = sorted(trials, key=self._rank)
        top = ranked[: max(self.rows, 20) if done else self.rows]
        news = {t.trial_id for t in trials if t.status == "RUNNING" or t.status in ENDED}
        news -= self._ended
        shown = [t for t in ranked if t in top or t.trial_id in news]
        header = ["trial", "state", "epoch", *self.scores, *self.columns, ""]
        body = [self._row(t) for t in shown]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines = [
            "  " + "  ".join(text.ljust(w) for text, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *body]
        ]
        self._hidden = hidden = len(trials) - len(shown)
        if hidden:
            where = "reports/ablations.csv" if self.experiment else "the reports"
            lines.append(f"  ... and {hidden} more trial{'s' * (hidden != 1)} ({where})")
        return lines

    def state(self, trial) -> str:
        if trial.status in ENDED and has_failed(trial):
            return "failed"
        if trial.status == "TERMINATED":
            return "done" if epochs(trial) >= self.max_epochs else "stopped"  # by ASHA
        return trial.status.lower()

    def _rank(self, trial) -> tuple:
        if not self.ranked:
            return (0,)  # Tune's order: the refit's grid, seed by seed
        value = best_so_far(trial, self.scores[0], self.mode)
        failed = trial.status in ENDED and has_failed(trial)  # its best says nothing of it now
        return (failed, math.isnan(value), -value if self.mode == "max" else value)

    def _row(self, trial) -> list[str]:
        scores = [
            best_so_far(trial, s, self.mode) if self.ranked else last(trial, s)
            for s in self.scores
        ]
        return [
            trial.trial_id,
            self.state(trial),
            f"{epochs(trial)}/{self.max_epochs}",
            *("" if math.isnan(v) else f"{v:.4f}" for v in scores),
            *(cell(trial.config.get(c)) for c in self.columns),
            "seed preset" if is_preset(trial.config, self.baseline) else "",
        ]


def has_failed(trial) -> bool:
    """An error, or a trial that ended itself on a NaN loss (its last report says ``failure``):
    the summary counts both as failed."""
    return trial.status == "ERROR" or isinstance(trial.last_result.get("failure"), str)


def epochs(trial) -> int:
    return int(trial.last_result.get("training_iteration") or 0)


def trained(trials) -> int:
    return sum(epochs(t) for t in trials)


def seen(trials) -> tuple[int, int]:
    """(trials ended, epochs trained): what a print says that the last one did not."""
    return sum(t.status in ENDED for t in trials), trained(trials)


def last(trial, metric: str) -> float:
    value = trial.last_result.get(metric)
    return math.nan if value is None else float(value)


def best_so_far(trial, metric: str, mode: str) -> float:
    """The trial's best ``metric`` yet (what ASHA's rungs compare, searchers.rungs)."""
    seen = (trial.metric_analysis or {}).get(metric, {})
    value = seen.get(mode)
    return last(trial, metric) if value is None else float(value)


def cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def clock(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds / 10) * 10, 10)} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes / 60:.1f} h"
