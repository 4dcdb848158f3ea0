"""CIFAR-10 under 200k parameters: the C1C2C3C40 family and its training hyperparameters.

Rules (checked before any training): fewer than 200,000 parameters, receptive field above 44,
at least one dilated and one depthwise-separable conv, no max-pooling, global average pooling.
"""

from __future__ import annotations

import optuna

from search_spaces.base import AshaDefaults, Config, ConfigKeys, SearchSpace
from search_spaces.rules import Rules
from trainables.models.cifar_net import DOWNSAMPLES, NORMS, CifarNetSpec
from trainables.recipe import Recipe, SgdWarmRestarts

DEPTHS = (3, 4, 5)  # blocks; a 32x32 input halves depth-1 times
STEM_WIDTHS = (8, 16, 24, 32)
BLOCK_WIDTHS = (16, 24, 32, 48, 64, 96)
EXPANSIONS = (32, 64, 96, 128, 160)
BRANCH_DILATIONS = (1, 2, 3)
TRANSITION_WIDTHS = (16, 24, 32, 48, 64)
BATCH_SIZES = (64, 128, 256)
T0_EPOCHS = (1, 2, 5, 10, 20)
ARCHITECTURE = ("depth", "stem_width", "width_", "expansion_", "dilation_", "transition_width")
ARCHITECTURE += ("downsample", "norm")  # "width_": the knobs width_0, width_1, ...

# The reference network with its training recipe: always the first trial of a search.
SEED: Config = {
    "depth": 4,
    "stem_width": 16,
    **{f"width_{i}": w for i, w in enumerate((32, 64, 64, 64))},
    **{f"expansion_{i}": 128 for i in range(4)},
    **{f"dilation_{i}": 2 for i in range(4)},
    "transition_width": 32,
    "downsample": "dilated",
    "norm": "batch",
    "dropout": 0.1,  # after every conv-norm-relu
    "lr": 0.05,  # peak of each cosine cycle
    "weight_decay": 5e-4,
    "label_smoothing": 0.1,
    "t0": 10,  # epochs in the first cosine cycle
    "t_mult": 1,
    "batch_size": 128,
}


def sample(trial: optuna.Trial) -> Config:
    depth = trial.suggest_categorical("depth", DEPTHS)
    config: Config = {
        "depth": depth,
        "stem_width": trial.suggest_categorical("stem_width", STEM_WIDTHS),
    }
    for i in range(depth):
        config[f"width_{i}"] = trial.suggest_categorical(f"width_{i}", BLOCK_WIDTHS)
        config[f"expansion_{i}"] = trial.suggest_categorical(f"expansion_{i}", EXPANSIONS)
        config[f"dilation_{i}"] = trial.suggest_categorical(f"dilation_{i}", BRANCH_DILATIONS)
    config |= {
        "transition_width": trial.suggest_categorical("transition_width", TRANSITION_WIDTHS),
        "downsample": trial.suggest_categorical("downsample", DOWNSAMPLES),
        "norm": trial.suggest_categorical("norm", NORMS),
        "dropout": trial.suggest_float("dropout", 0.0, 0.25),
        "lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 2e-3, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "t0": trial.suggest_categorical("t0", T0_EPOCHS),
        "t_mult": trial.suggest_categorical("t_mult", (1, 2)),
        "batch_size": trial.suggest_categorical("batch_size", BATCH_SIZES),
    }
    return config


def decode(config: Config) -> tuple[CifarNetSpec, Recipe]:
    keys = ConfigKeys(config)
    depth = keys["depth"]
    spec = CifarNetSpec(
        stem_width=keys["stem_width"],
        widths=tuple(keys[f"width_{i}"] for i in range(depth)),
        expansions=tuple(keys[f"expansion_{i}"] for i in range(depth)),
        dilations=tuple(keys[f"dilation_{i}"] for i in range(depth)),
        transition_width=keys["transition_width"],
        downsample=keys["downsample"],
        norm=keys["norm"],
        dropout=keys["dropout"],
    )
    recipe = keys.recipe(SgdWarmRestarts)
    keys.done()
    return spec, recipe


SPACE = SearchSpace(
    name="cifar_lt200k",
    description="CIFAR-10 under 200k parameters: dilated/depthwise-separable C1C2C3C40 family",
    task="cifar10",
    sample=sample,
    decode=decode,
    presets={"seed": SEED},
    batch_sizes=BATCH_SIZES,
    progress_columns=("depth", "downsample", "lr", "batch_size"),
    rules=Rules(
        params_below=200_000,
        receptive_field_above=44,
        require_dilated=True,
        require_separable=True,
        forbid_max_pool=True,
        require_global_pool=True,
    ),
    asha=AshaDefaults(num_samples=32, max_epochs=30, grace_period=3, reduction_factor=3),
    refit_epochs=30,  # the seed's recipe: three 10-epoch cosine cycles
    # four seed-network trials on one GPU train 4.86x the images of one alone on an H100 and
    # 4.32x on an H200 (nas.check, docs/benchmarks.md)
    gpu_share=0.25,
    kinds={
        "architecture": ARCHITECTURE,
        "optimiser": ("lr", "weight_decay"),
        "schedule": ("t0", "t_mult"),
        "batch size": ("batch_size",),
        "regularisation": ("dropout", "label_smoothing"),
    },
)
