"""At a resume, the search's study made whole before the restored searcher reopens it.

A last line a kill cut short is left out (``experiment.journal.mend``). A journal that is missing,
empty, cut in the middle or holds garbage, so that it lacks candidates the trials' logs or the
snapshot's searcher know, is rebuilt from the logs (``searchers.rebuild``) with the same numbers,
so that the searcher goes on as if nothing had happened; the damaged file is kept beside it.
"""

from __future__ import annotations

import pickle

from driver.config import RunConfig, UsageError
from driver.resume import ResumeRefused
from driver.warm_start import earlier_knowledge
from experiment import journal, storage
from experiment.layout import STUDY
from experiment.results import load_experiment
from search_spaces.base import SearchSpace
from searchers.feasible import directions
from searchers.optuna_compat import generations
from searchers.rebuild import CannotRebuild, Logged, absent, disagreement, rebuilt_trials
from searchers.study import write_journal


def whole_study(folder: str, run: RunConfig, space: SearchSpace) -> list[str]:
    """Mend or rebuild the study of the search in ``folder`` for a resume; the lines that say
    what was done (none where it was whole). Raises ResumeRefused where the logs cannot."""
    if storage.is_uri(folder):  # the study lives in the searcher's snapshot there
        return []
    state = snapshot_state(folder)
    asked = state.get("_asked") or 0 if state is not None else None
    if asked is None:  # no searcher snapshot: Tune starts the search anew (driver.tuner)
        return [mended] if (mended := journal.mend(folder)) else []
    path = storage.join(folder, STUDY)
    if garbage := journal.garbled(folder):
        experiment, said = load_experiment(folder), []
        why = f"line {', '.join(map(str, garbage))} not Optuna's"
    else:  # a last line cut short is left out, and nothing else lost
        said = [mended] if (mended := journal.mend(folder)) else []
        experiment = load_experiment(folder)
    logged = Logged(experiment, run.seed)
    if not garbage:
        why = disagreement(experiment.study, logged, asked, space.fixed)
        if why is None:
            return said
    why = absent(path) or why
    try:
        warm, points = earlier_knowledge(run, space)
        lost = ""
    except UsageError:  # an earlier experiment moved or went: its knowledge is not rebuilt
        warm, points = None, []
        lost = "; the knowledge of --warm-start's earlier experiments is not (they cannot be read)"
    points = ([space.preset("seed")] if run.seed_trial else []) + points
    try:
        ga = generations(state["_sampler"]) if "_sampler" in state else None
        trials = rebuilt_trials(logged, space, run.max_epochs, run.sizes, points, warm, asked, ga)
    except CannotRebuild as e:
        raise ResumeRefused(
            f"{path}: {why}, and it cannot be rebuilt from the trials' logs ({e}): restore the "
            "file, or start a new --name"
        ) from None
    kept = ""
    if storage.exists(path) and storage.read_bytes(path) and not said:
        damaged = unused(folder, f"{STUDY}.damaged")  # an earlier damaged copy is kept too
        storage.move(path, storage.join(folder, damaged))
        kept = f"; the damaged file is kept as {damaged}"
    write_journal(path, run.name, directions(space, run.sizes), trials)
    return [
        *said,
        f"{path}: rebuilt from {logged.describe()} ({why}): {len(trials)} candidate(s), "
        f"numbered as before{lost}{kept}.",
    ]


def unused(folder: str, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... where it is taken in ``folder``."""
    taken, n = name, 1
    while storage.exists(storage.join(folder, taken)):
        n += 1
        taken = f"{name}-{n}"
    return taken


def snapshot_state(folder: str) -> dict | None:
    """The state of the searcher in the newest Tune snapshot in ``folder`` (None where there
    is none)."""
    states = sorted(f for f in storage.files(folder) if "/searcher-state-" in f)
    if not states:
        return None
    state = pickle.loads(storage.read_bytes(states[-1]))  # Tune loads it anyway, next
    return state if isinstance(state, dict) else {}
