"""The training recipe as data: the optimiser, its learning-rate schedule and their knobs.

A recipe is a frozen dataclass of knobs that builds its optimiser and scheduler for a model's
parameters, advances the schedule each iteration, and answers what the learning rate is at
any point of training (by replaying its own scheduler, so a chart shows exactly what a trial
followed) and where its cycles end. The loop trains with it, the reports chart it, the refit
asks it whether a budget stops mid-cycle; a space names its recipe (``ConfigKeys.recipe``).
Another recipe (OneCycle, AdamW) is one more class here and one line in ``RECIPES``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from trainables.registry import Registry


@dataclass(frozen=True)
class SgdWarmRestarts:
    """SGD with Nesterov momentum and weight decay, cross-entropy with label smoothing, and
    ``CosineAnnealingWarmRestarts`` stepped every iteration with the fractional epoch."""

    name: ClassVar[str] = "sgd_warm_restarts"

    lr: float  # peak learning rate of each cosine cycle
    weight_decay: float
    label_smoothing: float
    t0: int  # epochs in the first cosine cycle
    t_mult: int  # each restart's cycle is t_mult times longer
    batch_size: int
    momentum: float = 0.9

    def build(self, parameters: Iterable[Any]) -> tuple[Any, Any]:
        """The optimiser and scheduler of one training."""
        import torch

        optimizer = torch.optim.SGD(
            parameters,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=True,
            weight_decay=self.weight_decay,
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=self.t0, T_mult=self.t_mult
        )
        return optimizer, scheduler

    def advance(self, scheduler: Any, epoch: float) -> None:
        """Move the schedule to ``epoch`` (fractional: after each iteration)."""
        scheduler.step(epoch)

    def lr_at(self, epochs: Sequence[float]) -> list[float]:
        """The learning rate at each of ``epochs`` (ascending, from 0): the schedule replayed on
        a throwaway parameter, the same code a training runs."""
        import torch

        optimizer, scheduler = self.build([torch.zeros(1, requires_grad=True)])
        lrs = []
        for epoch in epochs:
            if epoch > 0:
                self.advance(scheduler, epoch)
            lrs.append(optimizer.param_groups[0]["lr"])
        return lrs

    def cycle_ends(self, until: int) -> list[int]:
        """The epochs at which a cycle ends (the rate is at its lowest), to ``until`` and one
        past it."""
        ends, length = [self.t0], self.t0
        while ends[-1] <= until:
            length *= self.t_mult
            ends.append(ends[-1] + length)
        return ends

    def cycle_knobs(self) -> str:
        """The knobs that place the cycles, for a sentence."""
        return f"t0 {self.t0}, t_mult {self.t_mult}"

    def as_dict(self) -> dict[str, Any]:
        """The knobs, as a checkpoint's trial.json keeps them (``recipe_from`` reads them)."""
        return dataclasses.asdict(self)


class Recipe(Protocol):
    """What the loop, the reports and the refit ask of a recipe."""

    name: ClassVar[str]
    batch_size: int
    label_smoothing: float

    def build(self, parameters: Iterable[Any]) -> tuple[Any, Any]: ...
    def advance(self, scheduler: Any, epoch: float) -> None: ...
    def lr_at(self, epochs: Sequence[float]) -> list[float]: ...
    def cycle_ends(self, until: int) -> list[int]: ...
    def cycle_knobs(self) -> str: ...
    def as_dict(self) -> dict[str, Any]: ...


RECIPES: Registry[type] = Registry("training recipe")
RECIPES.add(SgdWarmRestarts.name, SgdWarmRestarts)


def recipe_from(knobs: dict[str, Any], name: str | None) -> Recipe:
    """A recipe from its name and knobs (a checkpoint's; older ones name none: SGD + warm
    restarts, the only recipe then)."""
    return RECIPES.named(name or SgdWarmRestarts.name)(**knobs)
