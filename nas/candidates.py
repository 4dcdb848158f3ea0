"""What a refit trains: the search's best distinct configurations and the seed preset
(``pick_candidates``), for how many epochs, and which of them its recipe leaves mid-cycle."""

from __future__ import annotations

import json
from pathlib import Path

from driver.config import RunConfig, UsageError
from experiment.results import Experiment
from reports.ranking import ranking, trial_config
from reports.refit import PRESET
from search_spaces.base import Config, SearchSpace, is_preset


def default_epochs(search: RunConfig, space: SearchSpace) -> int:
    """The space's full recipe; a smoke test's own few epochs."""
    return search.max_epochs if search.smoke_test else space.refit_epochs


def pick_candidates(experiment: Experiment, space: SearchSpace, top: int) -> list[dict]:
    """The seed preset, then the ``top`` best distinct configurations of the search other than
    it (fewer where the search has fewer, said on the way): name, config (no trial seed), the
    search's rank and value, params and MACs."""
    ranked = ranking(experiment)
    if ranked.empty:
        raise UsageError(
            f"experiment {Path(experiment.location).name!r} has no trial with a {space.metric} "
            "yet: nothing to refit; run or resume the search first."
        )
    preset = {k: v for k, v in space.preset("seed").items() if k != "seed"}
    seed, others, seen = candidate(space, PRESET, preset), [], set()
    for place, (_, row) in enumerate(ranked.iterrows(), start=1):
        config = {k: v for k, v in trial_config(row).items() if k != "seed"}
        if is_preset(config, preset):
            if seed["search_rank"] is None:  # its best trial, where it ran more than once
                seed = candidate(space, PRESET, preset, place, row)
            continue
        key = json.dumps(config, sort_keys=True)
        if key not in seen and len(others) < top:
            seen.add(key)
            others.append(candidate(space, f"top_{len(others) + 1}", config, place, row))
    if not others:
        raise UsageError(
            "the search has no configuration other than the seed preset with a score: nothing to "
            "compare the preset with; run more trials first."
        )
    if len(others) < top:
        print(
            f"The search has {len(others)} distinct configuration(s) besides the seed preset: "
            f"refitting {len(others)}, not {top}.",
            flush=True,
        )
    return [seed, *others]


def candidate(
    space: SearchSpace, name: str, config: Config, place: int | None = None, row=None
) -> dict:
    """One configuration to refit, as refit.json records it."""
    figures = space.analyze(space.decode({**config, "seed": 0})[0]).figures()
    return {
        "name": name,
        "config": config,
        "search_rank": place,  # in the search's ranking of its trials; None: never trained there
        "search_trial": None if row is None else row["Name"],
        "search_value": None if row is None else float(row["at_rung"]),
        "params": figures["params"],
        "macs": figures["macs"],
    }


def mid_cycle(space: SearchSpace, configs: dict[str, Config], epochs: int) -> list[str]:
    """A line per configuration whose recipe does not end a cycle at ``epochs``: its models
    are scored part-way down a cosine, at a higher learning rate than at a cycle's end."""
    lines = []
    for name, config in configs.items():
        _, recipe = space.decode({**config, "seed": 0})
        ends = recipe.cycle_ends(epochs)
        if epochs not in ends:
            before = [e for e in ends if e < epochs]
            nearest = f"{before[-1]} or {ends[-1]}" if before else str(ends[-1])
            lines.append(
                f"note: {name} ({recipe.cycle_knobs()}) is mid-cycle at "
                f"epoch {epochs}: it is scored before its learning rate comes down; its cycles "
                f"end at epoch {nearest}."
            )
    return lines
