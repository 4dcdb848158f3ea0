"""A search space: the knobs Optuna samples, how a config decodes, the rules it obeys."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from search_spaces.rules import Rules
from trainables.models.analysis import Analysis, analyze
from trainables.recipe import Recipe

Config = dict[str, Any]


@dataclass(frozen=True)
class AshaDefaults:
    num_samples: int = 16
    max_epochs: int = 20  # ASHA's max_t, in epochs (= training iterations)
    grace_period: int = 2  # epochs every trial gets before it can be stopped
    reduction_factor: int = 3  # 1/reduction_factor of the trials go on at each rung
    # optimizer steps every batch size takes before ASHA may stop a trial (searchers.rungs)
    min_rung_steps: int = 100


@dataclass(frozen=True)
class SearchSpace:
    name: str
    description: str  # one line, shown by --list-spaces
    task: str  # which data set the trials train on (see trainables.tasks)
    sample: Callable[[optuna.Trial], Config]  # define-by-run: draw one flat config
    decode: Callable[[Config], tuple[Any, Recipe]]  # config -> (model spec, training recipe)
    presets: dict[str, Config]  # named full configs; "seed" is the reference network
    rules: Rules
    batch_sizes: tuple[int, ...]  # the batch sizes ``sample`` draws from (for ASHA's first rung)
    progress_columns: tuple[str, ...] = ("lr", "batch_size")  # config keys in the live table
    metrics: tuple[str, ...] = ("val_acc",)  # what --metric may choose from
    metric: str = "val_acc"
    mode: str = "max"
    asha: AshaDefaults = field(default_factory=AshaDefaults)
    fixed: Config = field(default_factory=dict)  # knob values a run fixes (see for_run)
    input_sizes: tuple[int, ...] = ()  # what ``sample`` draws as input_size, where it is searched
    # epochs of the full training recipe: what ``nas.refit`` trains the winners for by default
    refit_epochs: int = 30
    # a trial's share of a GPU where the cluster has GPUs and --gpus-per-trial is not given: a
    # small network leaves a GPU mostly idle, so several trials share one (nas.check measures it)
    gpu_share: float = 1.0
    # kind -> knob names (a name ending in "_" is a prefix): local moves of the searchers pick
    # a kind first, then one or two of its knobs (searchers.base.local_move)
    kinds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    analyze: Callable[[Any], Analysis] = analyze  # a spec -> what the rules read

    def __setstate__(self, state: dict) -> None:
        # A space pickled by an older version (a searcher's snapshot, resumed after an upgrade)
        # lacks the fields added since: they take their defaults.
        for f in dataclasses.fields(self):
            if f.name not in state and f.default is not dataclasses.MISSING:
                state[f.name] = f.default
            elif f.name not in state and f.default_factory is not dataclasses.MISSING:
                state[f.name] = f.default_factory()
        self.__dict__.update(state)

    def for_run(
        self,
        metric: str | None = None,
        max_params: int | None = None,
        knobs: Config | None = None,
        spec: dict[str, Any] | None = None,
    ) -> SearchSpace:
        """The space as one search uses it: its metric, its budget, and the values it fixes.

        ``knobs`` fixes config values (``--input-size``) in every draw; ``spec`` fixes spec fields
        (the data's number of classes) in every decode. Every reader of a config (searcher,
        trial, reports, predict) decodes through the run's space, so all see one architecture.
        """
        rules = self.rules
        if max_params is not None:
            rules = dataclasses.replace(rules, params_below=max_params)
        knobs, spec = knobs or {}, spec or {}
        return dataclasses.replace(
            self,
            metric=metric or self.metric,
            rules=rules,
            sample=functools.partial(_with_knobs, self.sample, tuple(knobs.items())),
            decode=functools.partial(_with_spec, self.decode, tuple(spec.items())),
            fixed={**self.fixed, **knobs},
        )

    def image_sizes(self) -> tuple[int, ...]:
        """Every input size a trial of this run can train at (the data caches to prepare)."""
        if "input_size" in self.fixed:
            return (self.fixed["input_size"],)
        return self.input_sizes or (self.decode(self.preset())[0].image_size,)

    def preset(self, name: str = "seed") -> Config:
        """A named preset as this run trains it: the knobs the run fixes applied."""
        return {**self.presets[name], **self.fixed}


def is_preset(config: Config, preset: Config | None) -> bool:
    """Whether ``config`` is ``preset`` (its trial seed aside)."""
    return preset is not None and all(config.get(k) == v for k, v in preset.items())


def _with_knobs(sample, knobs, trial: optuna.Trial) -> Config:
    return {**sample(trial), **dict(knobs)}


def _with_spec(decode, fields, config: Config) -> tuple[Any, Recipe]:
    spec, recipe = decode(config)
    return dataclasses.replace(spec, **dict(fields)), recipe


class ConfigKeys:
    """Reads a config once, key by key, then rejects any key nobody asked for."""

    def __init__(self, config: Config, ignore: tuple[str, ...] = ("seed",)):
        self._config = dict(config)
        self._unread = set(config) - set(ignore)

    def __getitem__(self, key: str) -> Any:
        if key not in self._config:
            raise ValueError(f"config is missing {key!r}")
        self._unread.discard(key)
        return self._config[key]

    def recipe(self, recipe: type) -> Recipe:
        """The space's training recipe (a class of ``trainables.recipe``), each knob read under
        its own name; a knob with a default (SGD's momentum) keeps it unless the config has it."""
        knobs = {
            f.name: self[f.name]
            for f in dataclasses.fields(recipe)
            if f.name in self._config or f.default is dataclasses.MISSING
        }
        return recipe(**knobs)

    def done(self) -> None:
        if self._unread:
            raise ValueError(f"unknown config keys: {', '.join(sorted(self._unread))}")
