"""A search space: the knobs Optuna samples, how a config decodes, the rules it obeys."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from nas.constraints import Rules
from trainables.loop import TrainSettings

Config = dict[str, Any]


@dataclass(frozen=True)
class AshaDefaults:
    num_samples: int = 16
    max_epochs: int = 20  # ASHA's max_t, in epochs (= training iterations)
    grace_period: int = 2  # epochs every trial gets before it can be stopped
    reduction_factor: int = 3  # 1/reduction_factor of the trials go on at each rung
    # optimizer steps every batch size takes before ASHA may stop a trial (nas.rungs)
    min_rung_steps: int = 100


@dataclass(frozen=True)
class SearchSpace:
    name: str
    description: str  # one line, shown by --list-spaces
    task: str  # which data set the trials train on (see trainables.tasks)
    sample: Callable[[optuna.Trial], Config]  # define-by-run: draw one flat config
    decode: Callable[[Config], tuple[Any, TrainSettings]]  # config -> (model spec, settings)
    presets: dict[str, Config]  # named full configs; "seed" is the reference network
    rules: Rules
    batch_sizes: tuple[int, ...]  # the batch sizes ``sample`` draws from (for ASHA's first rung)
    progress_columns: tuple[str, ...] = ("lr", "batch_size")  # config keys in the live table
    metrics: tuple[str, ...] = ("val_acc",)  # what --metric may choose from
    metric: str = "val_acc"
    mode: str = "max"
    asha: AshaDefaults = field(default_factory=AshaDefaults)

    def for_run(self, metric: str | None = None, max_params: int | None = None) -> SearchSpace:
        """The space as one search uses it: ``--metric`` and ``--max-params`` applied."""
        rules = self.rules
        if max_params is not None:
            rules = dataclasses.replace(rules, params_below=max_params)
        return dataclasses.replace(self, metric=metric or self.metric, rules=rules)


@dataclass(frozen=True)
class Decoder:
    """A space's decode with the spec fields a run fixes (the number of classes of its data).

    Picklable, so it travels to the trials; every reader of a config (searcher, trial,
    reports, predict) decodes through one, so they all see the same architecture.
    """

    decode: Callable[[Config], tuple[Any, TrainSettings]]
    fixed: tuple[tuple[str, Any], ...] = ()

    def __call__(self, config: Config) -> tuple[Any, TrainSettings]:
        spec, settings = self.decode(config)
        return dataclasses.replace(spec, **dict(self.fixed)), settings


def decoder(space: SearchSpace, num_classes: int | None = None) -> Decoder:
    return Decoder(space.decode, (("num_classes", num_classes),) if num_classes else ())


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

    def train_settings(self) -> TrainSettings:
        """The training hyperparameters every space searches, under their usual keys."""
        return TrainSettings(
            lr=self["lr"],
            weight_decay=self["weight_decay"],
            label_smoothing=self["label_smoothing"],
            t0=self["t0"],
            t_mult=self["t_mult"],
            batch_size=self["batch_size"],
        )

    def done(self) -> None:
        if self._unread:
            raise ValueError(f"unknown config keys: {', '.join(sorted(self._unread))}")
