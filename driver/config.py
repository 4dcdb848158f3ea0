"""One search's settings, from the command line to the trials: ``RunConfig``.

Field names are the ``nas.run`` flag names (``--max-epochs`` is ``max_epochs``) and every
default is stated here once; ``None`` on a field marked "the space's" takes the space's value
(``SearchSpace.asha``, ``SearchSpace.metric``), or the smoke test's. Building one raises
``UsageError`` with one sentence naming the first flag whose value cannot work. ``run.json``
records it whole, as given; a resume reads it back and compares it field by field
(``driver.resume``). What the driver derives from it lives apart (``driver.plan.Plan``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass, field
from datetime import datetime

from driver.sizes import SMALL, SMOKE_TEST
from experiment import storage
from search_spaces import SPACES, get_space, space_for_run
from search_spaces.base import SearchSpace
from searchers import MULTI_OBJECTIVE, SAMPLERS
from searchers.feasible import SIZES, objective_names
from trainables.tasks import get_task

REFIT_TOP, REFIT_SEEDS = 3, 3  # nas.refit: configurations besides the seed preset; seeds each
MAX_SEED = 2**31 - 1
MIN_SHARE = 0.01  # of a CPU or GPU per trial: Ray counts resources in steps of 0.0001
SPACE_SHAPED = tuple(SMOKE_TEST)  # None: the space's (its AshaDefaults), or the smoke test's


class UsageError(Exception):
    """A bad flag value: printed as one sentence, exit status 2."""


def flag(default, help: str, *, shapes: bool = False, **argparse_kwargs):
    """A field that is also a ``nas.run`` flag; ``shapes``: a resume must not change it."""
    return field(
        default=default, metadata={"help": help, "shapes": shapes, "argparse": argparse_kwargs}
    )


@dataclass(frozen=True)
class RunConfig:
    space: str | None = flag(None, "search space name (see --list-spaces)", shapes=True)
    name: str | None = flag(
        None, "experiment name (default: SPACE-DATE-TIME, smoke-SPACE-DATE-TIME for --smoke-test)"
    )
    storage: str = flag("./experiments", "folder, shared path or URI (s3://...) of experiments")
    data_dir: str | None = flag(
        None,
        "folder holding the data set (default: $NAS_DATA_DIR, else ./data; on --resume, the "
        "experiment's)",
    )
    smoke_test: bool = flag(False, "tiny synthetic data, a few trials", shapes=True)
    small: bool = flag(
        False,
        "a small search a CPU runs in minutes: 8 trials of up to 6 epochs on 1,200 images, ASHA "
        "judging at epoch 2 (each of these can still be given)",
        shapes=True,
    )
    num_samples: int | None = flag(None, "trials to run (default: the space's)", shapes=True)
    max_epochs: int | None = flag(
        None, "epochs of a trial never stopped (default: the space's)", shapes=True
    )
    grace_period: int | None = flag(
        None, "epochs before ASHA may stop a trial (default: the space's)", shapes=True
    )
    reduction_factor: int | None = flag(
        None, "ASHA keeps 1/N of the trials per rung (default: the space's)", shapes=True
    )
    min_rung_steps: int | None = flag(
        None,
        "optimizer steps every batch size takes before ASHA may stop a trial; moves the first "
        "rung later on small data (default: the space's; 0: --grace-period alone)",
        shapes=True,
    )
    searcher: str = flag(
        "tpe",
        "tpe (Optuna's TPE), prior (around the seed preset, then the incumbent and TPE), "
        "evolution (regularized, from the seed preset), random or nsga2 (Optuna's NSGA-II)",
        shapes=True,
        choices=list(SAMPLERS),
    )
    seed: int = flag(0, "experiment seed; fixes every trial's", shapes=True)
    seed_trial: bool = flag(
        True,
        "do not start with the space's seed preset (every trial drawn by the searcher)",
        shapes=True,
    )
    val_fraction: float = flag(0.1, "of the training files held out to validate", shapes=True)
    train_images: int | None = flag(None, "train on only the first N training images", shapes=True)
    metric: str | None = flag(
        None, "what ASHA and the searcher optimise (default: the space's)", shapes=True
    )
    max_params: int | None = flag(None, "parameter budget (default: the space's)", shapes=True)
    objectives: str | None = flag(
        None,
        "a Pareto search: the metric, then params and/or macs to minimise beside it, e.g. "
        "val_acc,params (default: the metric alone)",
        shapes=True,
    )
    input_size: int | None = flag(None, "fix the input size (spaces that search it)", shapes=True)
    address: str | None = flag(None, "address of an existing Ray cluster (default: start one)")
    num_cpus: int | None = flag(None, "CPUs of the local Ray instance (default: all)")
    cpus_per_trial: float = flag(1.0, "CPUs each trial reserves")
    gpus_per_trial: float | None = flag(
        None, "GPUs per trial, fractions allowed (default: the space's share; 0 without GPUs)"
    )
    max_concurrent: int | None = flag(None, "trials at once (default: all that fit)")
    max_failures: int = flag(0, "retries of a failed trial")
    checkpoint_every: int = flag(1, "epochs between checkpoints")
    wandb: bool = flag(False, "log trials to W&B (offline without an API key)")
    compile: bool = flag(False, "torch.compile each trial's model (GPU, long runs)")
    warm_start: list[str] | None = flag(
        None,
        "begin with what an earlier experiment (folder) of the space learnt; repeat for more",
        shapes=True, action="append", metavar="DIR",
    )  # fmt: skip
    warm_start_top: int | None = flag(None, "train --warm-start's N best first", shapes=True)
    refit_top: int | None = flag(
        None,
        "after the search, refit its best N configurations and the seed preset (nas.refit)",
        shapes=True,
    )
    refit_front: int | None = flag(
        None,
        "after a Pareto search, refit N networks spread along its front and the seed preset "
        "(nas.refit --front)",
        shapes=True,
    )
    refit_epochs: int | None = flag(
        None, "epochs of each refit model (default: the space's)", shapes=True
    )
    refit_seeds: int | None = flag(
        None, f"seeds each refit configuration trains with (default: {REFIT_SEEDS})", shapes=True
    )

    def __post_init__(self) -> None:
        if self.name is not None:
            check_name(self.name)
        counts = ("num_samples", "max_epochs", "grace_period", "train_images", "max_concurrent")
        refit = ("refit_top", "refit_front", "refit_epochs", "refit_seeds", "warm_start_top")
        for name in (*counts, *refit, "checkpoint_every", "num_cpus", "max_params"):
            self._at_least(name, 1)
        self._at_least("reduction_factor", 2)
        self._at_least("min_rung_steps", 0)
        self._at_least("max_failures", 0)
        epochs, grace = self.max_epochs, self.grace_period
        if None not in (epochs, grace) and epochs < grace:
            raise UsageError(
                f"--max-epochs must be >= --grace-period "
                f"(got {self.max_epochs} < {self.grace_period})."
            )
        if not 0 <= self.seed <= MAX_SEED:  # Optuna's samplers seed NumPy with it
            raise UsageError(f"--seed must be between 0 and {MAX_SEED} (got {self.seed}).")
        if not (math.isfinite(self.cpus_per_trial) and self.cpus_per_trial >= MIN_SHARE):
            raise UsageError(
                f"--cpus-per-trial must be a number of CPUs of at least {MIN_SHARE} (got "
                f"{self.cpus_per_trial}): for example 1, or 0.5 to share a CPU between trials."
            )
        gpus = self.gpus_per_trial
        if gpus is not None and not (math.isfinite(gpus) and (gpus == 0 or gpus >= MIN_SHARE)):
            raise UsageError(
                f"--gpus-per-trial must be 0 or a number of GPUs of at least {MIN_SHARE} (got "
                f"{gpus}): for example 1, or 0.5 to share a GPU between two trials."
            )
        if self.gpus_per_trial is not None and self.gpus_per_trial > 1:
            raise UsageError(
                f"--gpus-per-trial above 1 is not supported: a trial trains on one GPU (got "
                f"{self.gpus_per_trial:g}); use 1, or a fraction to share a GPU between trials."
            )
        if self.refit_top and self.refit_front:
            raise UsageError(
                "--refit-top and --refit-front choose the refit's networks two ways: give one."
            )
        if self.warm_start_top and not self.warm_start:
            raise UsageError(
                "--warm-start-top trains an earlier experiment's best configurations first: "
                "give that experiment with --warm-start DIR."
            )
        if self.input_size is not None and self.input_size < 16:
            raise UsageError(f"--input-size must be at least 16 pixels (got {self.input_size}).")
        if not 0 < self.val_fraction < 1:
            raise UsageError(f"--val-fraction must be between 0 and 1 (got {self.val_fraction}).")

    def _at_least(self, name: str, low: int) -> None:
        value = getattr(self, name)
        if value is not None and value < low:
            bound = f"at least {low}" if low else "0 or more"
            raise UsageError(f"--{name.replace('_', '-')} must be {bound} (got {value}).")

    @classmethod
    def from_flags(cls, given: dict) -> RunConfig:
        """A new search's config: the flags given, then the space's and these defaults."""
        if not given.get("space"):
            raise UsageError(f"--space is required; known spaces: {', '.join(sorted(SPACES))}.")
        space = space_named(given["space"])
        if given.get("smoke_test") and given.get("small"):
            raise UsageError("--smoke-test and --small are two sizes of search: give one.")
        fallback = SMOKE_TEST if given.get("smoke_test") else dataclasses.asdict(space.asha)
        objectives = objective_names(given.get("objectives")) or [""]
        values = {
            **{k: fallback[k] for k in SPACE_SHAPED},
            **(SMALL if given.get("small") else {}),
            # --objectives names the metric first: it is the metric where --metric is not given
            "metric": objectives[0] or space.metric,
            # smoke-: a smoke test is told from a real search in the storage folder at a glance
            "name": f"{'smoke-' * bool(given.get('smoke_test'))}{space.name}-"
            f"{datetime.now():%Y%m%d-%H%M%S}",
            "data_dir": os.environ.get("NAS_DATA_DIR") or "./data",  # set but empty: unset
            **{k: v for k, v in given.items() if v is not None},
        }
        values["storage"] = storage.resolve(values.get("storage", cls.storage))
        values["data_dir"] = storage.resolve(values["data_dir"])
        if values.get("warm_start"):
            values["warm_start"] = [storage.resolve(where) for where in values["warm_start"]]
        synthetic_size = get_task(space.task).smoke_input_size
        if values.get("smoke_test") and synthetic_size and "input_size" not in given:
            values["input_size"] = synthetic_size
        config = cls(**values)
        config.check_against(space)
        return config

    def check_against(self, space: SearchSpace) -> None:
        """Raise UsageError where a flag does not apply to the space."""
        if self.objectives is not None:
            self._check_objectives(space)
        if self.refit_front and not self.sizes:
            raise UsageError(
                f"--refit-front refits a Pareto search's front; this search has one objective "
                f"({self.metric}): add --objectives {self.metric},params, or refit its best with "
                "--refit-top."
            )
        if self.metric not in space.metrics:
            raise UsageError(
                f"--metric must be one of {', '.join(space.metrics)} for space {space.name} "
                f"(got {self.metric})."
            )
        if self.input_size is not None and "input_size" not in space.presets["seed"]:
            raise UsageError(
                f"--input-size does not apply to space {space.name}: its input size is fixed."
            )
        sizes = space.input_sizes
        if self.input_size is not None and not self.smoke_test and self.input_size not in sizes:
            raise UsageError(
                f"--input-size must be one of {', '.join(map(str, sizes))} for space "
                f"{space.name} (got {self.input_size})."
            )

    def _check_objectives(self, space: SearchSpace) -> None:
        names = objective_names(self.objectives)
        example = f"for example --objectives {space.metric},params"
        for name in names:
            if name not in (*space.metrics, *SIZES):
                raise UsageError(
                    f"--objectives: unknown objective {name!r}; the metric is one of "
                    f"{', '.join(space.metrics)} and the sizes are {' and '.join(SIZES)} "
                    f"({example})."
                )
            if names.count(name) > 1:
                raise UsageError(f"--objectives names {name} twice ({example}).")
        if names[0] not in space.metrics or any(name not in SIZES for name in names[1:]):
            raise UsageError(
                f"--objectives must name one metric first, then params and/or macs (got "
                f"{self.objectives}): {example}."
            )
        if names[0] != self.metric:
            raise UsageError(
                f"--objectives starts with {names[0]} but --metric is {self.metric}: name one "
                "metric."
            )
        if self.sizes and self.searcher not in MULTI_OBJECTIVE:
            raise UsageError(
                f"--searcher {self.searcher} searches one objective: with --objectives choose "
                f"{', '.join(MULTI_OBJECTIVE)}."
            )

    @property
    def refits(self) -> bool:
        """Whether the search asks for a refit after it (--refit-top or --refit-front)."""
        return bool(self.refit_top or self.refit_front)

    @property
    def sizes(self) -> tuple[str, ...]:
        """The size objectives a Pareto search minimises beside the metric (none: one
        objective)."""
        return tuple(objective_names(self.objectives)[1:])

    @classmethod
    def shaping(cls) -> list[str]:
        """The fields a resume takes from run.json and refuses to change."""
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("shapes")]

    @property
    def experiment_dir(self) -> str:
        return storage.join(self.storage, self.name)

    def search_space(self, num_classes: int | None = None) -> SearchSpace:
        """The space as this run searches it: metric, budget, input size and the data's classes
        (``Plan.num_classes``; None: the space's) applied."""
        return space_for_run({**dataclasses.asdict(self), "num_classes": num_classes})


def check_name(name: str) -> None:
    """Raise UsageError unless ``name`` is one plain folder name: it cannot lead out of storage."""
    if (size := len(name.encode())) > 255:
        raise UsageError(f"--name is {size} bytes; a folder name holds 255 at most: shorten it.")
    plain = (
        bool(name.strip())
        and not name.startswith(".")
        and not any(c in name for c in "/\\")
        and all(c.isprintable() for c in name)
    )
    if not plain:
        raise UsageError(
            f"--name must be one folder name inside --storage, without '/', '\\', a leading "
            f"dot or control characters (got {name!r}): for example 'cifar-search-1'."
        )


def space_named(name: str) -> SearchSpace:
    try:
        return get_space(name)
    except KeyError as e:
        raise UsageError(f"{e.args[0]}.") from None


def add_flags(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """One flag per field (or per field in ``only``); a flag not given is absent from the
    parsed namespace."""
    for f in dataclasses.fields(RunConfig):
        if "help" not in f.metadata or (only is not None and f.name not in only):
            continue
        name = "--" + f.name.replace("_", "-")
        kwargs = {"dest": f.name, "default": argparse.SUPPRESS, **f.metadata["argparse"]}
        text = f.metadata["help"]
        if f.type in ("bool", bool) and f.default is True:
            parser.add_argument(f"--no-{name[2:]}", action="store_false", help=text, **kwargs)
        elif f.type in ("bool", bool):
            parser.add_argument(name, action="store_true", help=text, **kwargs)
        else:
            default = "" if f.default is None else f" (default: {f.default})"
            kind = {"int | None": int, "int": int, "float": float, "float | None": float}
            parser.add_argument(
                name, type=kind.get(f.type, str), help=text.removesuffix(".") + default, **kwargs
            )
