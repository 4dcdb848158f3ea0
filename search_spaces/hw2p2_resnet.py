"""HW2P2 faces: bottleneck ResNets (or ConvNeXt-style networks) for 7000-way classification,
with verification accuracy reported beside validation accuracy every epoch.

The number of classes comes from the data; the parameter budget is ``--max-params`` (default
below); ``--metric verify_acc`` makes ASHA and the searcher optimise verification instead.
"""

from __future__ import annotations

import optuna

from search_spaces.base import AshaDefaults, Config, ConfigKeys, SearchSpace
from search_spaces.rules import Rules
from trainables.models.convnext import ConvNeXtSpec
from trainables.models.resnet import ResNetSpec
from trainables.recipe import Recipe, SgdWarmRestarts

FAMILIES = ("resnet", "convnext")
STAGES = 4
BLOCKS = (1, 2, 3, 4, 6, 9)  # per stage
WIDTHS = (16, 32, 48, 64, 96)  # first stage; each later stage doubles it
INPUT_SIZES = (64, 96, 112, 128, 160, 224)  # pixels per side
BATCH_SIZES = (32, 64, 128)
T0_EPOCHS = (1, 2, 5, 10, 20)

# The reference network and recipe (89.39% validation accuracy on HW2P2): always trial 0.
SEED: Config = {
    "family": "resnet",
    **{f"blocks_{i}": n for i, n in enumerate((3, 4, 6, 3))},
    "width": 64,
    "expansion": 4,
    "conv_bias": True,
    "dropout": 0.0,
    "lr": 0.1,
    "weight_decay": 1e-4,
    "label_smoothing": 0.2,
    "t0": 10,  # epochs in the first cosine cycle
    "t_mult": 2,
    "batch_size": 128,
    "input_size": 224,
}


def sample(trial: optuna.Trial) -> Config:
    family = trial.suggest_categorical("family", FAMILIES)
    config: Config = {"family": family}
    for i in range(STAGES):
        config[f"blocks_{i}"] = trial.suggest_categorical(f"blocks_{i}", BLOCKS)
    config["width"] = trial.suggest_categorical("width", WIDTHS)
    if family == "resnet":
        config["expansion"] = trial.suggest_categorical("expansion", (2, 4))
        config["conv_bias"] = trial.suggest_categorical("conv_bias", (True, False))
    config |= {
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 1e-3, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.3),
        "t0": trial.suggest_categorical("t0", T0_EPOCHS),
        "t_mult": trial.suggest_categorical("t_mult", (1, 2)),
        "batch_size": trial.suggest_categorical("batch_size", BATCH_SIZES),
        "input_size": trial.suggest_categorical("input_size", INPUT_SIZES),
    }
    return config


def decode(config: Config) -> tuple[ResNetSpec | ConvNeXtSpec, Recipe]:
    keys = ConfigKeys(config)
    layers = tuple(keys[f"blocks_{i}"] for i in range(STAGES))
    widths = tuple(keys["width"] * 2**i for i in range(STAGES))
    common = {"layers": layers, "widths": widths, "dropout": keys["dropout"]}
    common["image_size"] = keys["input_size"]
    if keys["family"] == "resnet":
        spec = ResNetSpec(
            stem_width=keys["width"],
            expansion=keys["expansion"],
            conv_bias=keys["conv_bias"],
            **common,
        )
    elif keys["family"] == "convnext":
        spec = ConvNeXtSpec(**common)
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got {keys['family']!r}")
    recipe = keys.recipe(SgdWarmRestarts)
    keys.done()
    return spec, recipe


SPACE = SearchSpace(
    name="hw2p2_resnet",
    description="HW2P2 faces: bottleneck ResNet or ConvNeXt, classification + verification",
    task="hw2p2",
    sample=sample,
    decode=decode,
    presets={"seed": SEED},
    batch_sizes=BATCH_SIZES,
    input_sizes=INPUT_SIZES,
    rules=Rules(params_below=60_000_000),  # --max-params overrides it
    progress_columns=("family", "width", "input_size", "lr"),
    metrics=("val_acc", "verify_acc"),
    asha=AshaDefaults(num_samples=16, max_epochs=20, grace_period=2, reduction_factor=3),
    refit_epochs=80,  # the seed network was trained for 80 epochs
    kinds={
        "architecture": ("family", "blocks_", "width", "expansion", "conv_bias", "input_size"),
        "optimiser": ("lr", "weight_decay"),
        "schedule": ("t0", "t_mult"),
        "batch size": ("batch_size",),
        "regularisation": ("dropout", "label_smoothing"),
    },
)
