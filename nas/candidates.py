"""What a refit trains: the search's best distinct configurations and the seed preset
(``pick_candidates``), or networks spread along a Pareto search's front (``pick_front``), for
how many epochs, and which of them its recipe leaves mid-cycle."""

from __future__ import annotations

import json
from pathlib import Path

from driver.config import RunConfig, UsageError
from experiment.results import Experiment
from nas.cli import command
from reports.pareto import beside_the_preset, pareto, smallest_within
from reports.ranking import ranking, seed_trial, trial_config
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
    preset = without_seed(space.preset("seed"))
    seed, others, seen = candidate(space, PRESET, preset), [], set()
    for place, (_, row) in enumerate(ranked.iterrows(), start=1):
        config = without_seed(trial_config(row))
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


def pick_front(experiment: Experiment, space: SearchSpace, k: int) -> tuple[list[dict], str, str]:
    """The seed preset, then ``k`` distinct networks of the search's front (``reports.pareto``)
    spread along it, smallest first (``front_1``...), and the pick ``nas.predict`` will use,
    fixed before any refit score, with how it was chosen: the smallest of those networks within
    ``WITHIN`` points of the seed preset in the search, at its epoch ("within"; always among the
    ``k``), else the seed preset ("none within", or "no score" where the search never scored
    the preset)."""
    ranked, front = ranking(experiment), pareto(experiment)
    preset = without_seed(space.preset("seed"))
    place = {name: i for i, name in enumerate(ranked["Name"], start=1)}
    rows = ranked.set_index("Name", drop=False)
    config = {name: without_seed(trial_config(rows.loc[name])) for name in ranked["Name"]}
    on, seen = [], set()  # the front's distinct networks besides the preset, smallest first
    for name in front.loc[front["on_front"], "Name"]:
        key = json.dumps(config[name], sort_keys=True)
        if not is_preset(config[name], preset) and key not in seen:
            seen.add(key)
            on.append(name)
    if not on:
        where = Path(experiment.location)
        raise UsageError(
            f"the front of experiment {where.name!r} holds no network besides the seed preset: "
            f"nothing to compare it with; refit its best with {command('nas.refit', str(where))} "
            "--top N, or search more under a new --name."
        )
    seed_row = seed_trial(experiment)
    beside = beside_the_preset(front, seed_row)
    small = None
    if beside is not None:
        preset_row, alike = beside
        small = smallest_within(preset_row, alike[alike["Name"].isin(on)])
    chosen = [on[i] for i in spread(len(on), k)]
    if small is not None and small["Name"] not in chosen:  # it takes an inner network's place
        size = front.set_index("Name")["params"]
        inner = chosen[1:-1] or chosen
        chosen.remove(min(inner, key=lambda name: abs(size[name] - small["params"])))
        chosen = sorted([*chosen, small["Name"]], key=lambda name: size[name])
    if len(chosen) < k:
        print(
            f"The search's front has {len(chosen)} network(s) besides the seed preset: "
            f"refitting {len(chosen)}, not {k}.",
            flush=True,
        )
    trained = None if seed_row is None else seed_row["Name"]  # the preset's trial, as compared
    row = None if trained is None else rows.loc[trained]
    seed = candidate(space, PRESET, preset, place.get(trained), row)
    names = {name: f"front_{i}" for i, name in enumerate(chosen, start=1)}
    others = [candidate(space, names[n], config[n], place[n], rows.loc[n]) for n in chosen]
    if small is not None:
        return [seed, *others], names[small["Name"]], "within"
    return [seed, *others], PRESET, "none within" if beside is not None else "no score"


def without_seed(config: Config) -> Config:
    return {k: v for k, v in config.items() if k != "seed"}


def spread(n: int, k: int) -> list[int]:
    """``k`` of ``n`` places (0 to n - 1) evenly spread, both ends included: all where k >= n."""
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


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
