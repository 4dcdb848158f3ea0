"""The recipe as data: the learning rate it answers is the one a training follows, its cycles
end where the cosine bottoms out, and a checkpoint names it."""

from __future__ import annotations

import math

import pytest
import torch

from search_spaces import get_space
from trainables.recipe import RECIPES, SgdWarmRestarts, recipe_from

RECIPE = SgdWarmRestarts(
    lr=0.1, weight_decay=5e-4, label_smoothing=0.1, t0=2, t_mult=2, batch_size=32
)


def test_lr_at_follows_the_warm_restarts_a_training_steps_through():
    epochs = [0.0, 1.0, 2.0, 2.5, 4.0, 6.0]
    # Cycles of 2, then 4 epochs: half-way down, a restart at 2, a quarter into the second...
    cosine = [1.0, 0.5, 1.0, (1 + math.cos(math.pi / 8)) / 2, 0.5, 1.0]
    assert RECIPE.lr_at(epochs) == pytest.approx([0.1 * c for c in cosine])
    # The optimiser a training builds moves the same way.
    model = torch.nn.Linear(2, 1)
    optimizer, scheduler = RECIPE.build(model.parameters())
    RECIPE.advance(scheduler, 2.5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(RECIPE.lr_at([2.5])[0])
    assert optimizer.param_groups[0]["nesterov"] and optimizer.defaults["weight_decay"] == 5e-4


def test_cycles_end_where_the_rate_bottoms_out():
    assert RECIPE.cycle_ends(10) == [2, 6, 14]
    assert RECIPE.cycle_knobs() == "t0 2, t_mult 2"
    before_ends = RECIPE.lr_at([1.99, 5.99])
    assert all(lr < 0.001 for lr in before_ends)


def test_a_space_names_its_recipe_and_a_checkpoint_rebuilds_it():
    space = get_space("cifar_lt200k")
    _, recipe = space.decode(space.presets["seed"])
    assert type(recipe) is RECIPES[recipe.name]
    assert recipe_from(recipe.as_dict(), recipe.name) == recipe
    assert recipe_from(recipe.as_dict(), None) == recipe  # trial.json from before recipes
    known = "unknown training recipe 'one_cycle'; known training recipes: sgd_warm_restarts"
    with pytest.raises(ValueError, match=known):
        recipe_from(recipe.as_dict(), "one_cycle")
