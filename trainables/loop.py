"""The training loop: plain PyTorch, no Ray.

The optimiser, its schedule and the loss's label smoothing come from the trial's recipe
(``trainables.recipe``), advanced every iteration with the fractional epoch. Tensors are
channels_last (oneDNN on CPU and cuDNN on GPU are both faster with it: 99 -> 132 img/s for the
seed network on one CPU core).
Precision, scaler and syncs come from the ``Device`` (``trainables.device``): on CUDA autocast
in bf16 where the GPU has it natively, else fp16 with a gradient scaler; on CPU fp32.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainables.data.images import Images
from trainables.device import Device
from trainables.models import create_model
from trainables.recipe import Recipe


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class EpochStats:
    loss: float
    acc: float
    lr: float  # at the end of the epoch
    seconds: float


class Training:
    """Model, optimizer, scheduler and scaler of one trial, on one device."""

    def __init__(self, spec: Any, recipe: Recipe, device: Device, compile: bool = False):
        self.device, self.recipe = device, recipe
        self.model = create_model(spec).to(device.torch_device, memory_format=torch.channels_last)
        # The compiled forward shares the model's parameters; the state dict stays the model's.
        # Dynamo's cache is per process: a reused worker would hit its recompile limit after a
        # few architectures and silently run uncompiled, so each compiled training starts clean.
        if compile:
            torch._dynamo.reset()
        self.forward = torch.compile(self.model) if compile else self.model
        self.optimizer, self.scheduler = recipe.build(self.model.parameters())
        self.scaler = device.grad_scaler()
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.epoch = 0  # epochs completed
        # Unix times at which this trial's first optimizer step began (its batch on the device)
        # and ended: start-up is the first minus the trial's start; the step itself is compute.
        self.first_batch_at: float | None = None
        self.first_step_at: float | None = None

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        where = self.device.torch_device
        x = x.to(where, non_blocking=True, memory_format=torch.channels_last)
        return x, y.to(where, non_blocking=True)

    def train_epoch(
        self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], steps: int
    ) -> EpochStats:
        """One pass over ``batches`` (``steps`` of them); the schedule advances per iteration."""
        start = time.perf_counter()
        self.model.train()
        total_loss = torch.zeros((), device=self.device.torch_device)
        correct = torch.zeros((), dtype=torch.long, device=self.device.torch_device)
        seen = 0
        for i, (x, y) in enumerate(batches):
            x, y = self._to_device(x, y)
            if self.first_batch_at is None:
                self.first_batch_at = time.time()
            with self.device.autocast():
                logits = self.forward(x)
                loss = self.loss_fn(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.first_step_at is None:
                self.device.synchronize()  # the step's kernels have run, not just launched
                self.first_step_at = time.time()
            self.recipe.advance(self.scheduler, self.epoch + (i + 1) / steps)
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            # Checking forces a device sync, so on a GPU only every few steps.
            check = i % self.device.finite_check_every == 0 or i + 1 == steps
            if check and not total_loss.isfinite():
                raise NonFiniteLoss(
                    f"loss became {loss.item()} at epoch {self.epoch + 1}, step {i + 1}"
                )
        self.epoch += 1
        return EpochStats(
            loss=total_loss.item() / max(seen, 1),
            acc=correct.item() / max(seen, 1),
            lr=self.optimizer.param_groups[0]["lr"],
            seconds=time.perf_counter() - start,
        )

    @torch.no_grad()
    def evaluate(
        self, images: Images, y: torch.Tensor, batch_size: int = 512
    ) -> tuple[float, float]:
        """Mean loss (with the training label smoothing) and accuracy on uint8 ``images``.

        Sums stay on the device: one host sync for the whole set, not two per batch.
        """
        self.model.eval()
        total_loss = torch.zeros((), device=self.device.torch_device)
        correct = torch.zeros((), dtype=torch.long, device=self.device.torch_device)
        where = self.device.torch_device
        for i, xb in enumerate(images.batches(where, batch_size)):
            yb = y[i * batch_size : (i + 1) * batch_size].to(where, non_blocking=True)
            with self.device.autocast():
                logits = self.forward(xb)
            total_loss += self.loss_fn(logits.float(), yb) * len(yb)
            correct += (logits.argmax(1) == yb).sum()
        return total_loss.item() / len(y), correct.item() / len(y)

    @torch.no_grad()
    def embed(self, images: Images, batch_size: int = 256) -> torch.Tensor:
        """The feature-layer embeddings of uint8 ``images`` (for verification), on the device."""
        self.model.eval()
        chunks = []
        for xb in images.batches(self.device.torch_device, batch_size):
            with self.device.autocast():
                chunks.append(self.model.forward_features(xb).flatten(1).float())
        return torch.cat(chunks)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {**rng_state(), **self.device.rng_state()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # a disabled scaler (CPU, bf16) saved {}: nothing to restore
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.device.set_rng_state(state["rng"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch CPU generator states as tensors and numbers (``weights_only``-safe).

    The device's own generator state comes from ``Device.rng_state``.
    """
    version, words, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    return {
        "python": {"version": version, "words": torch.tensor(words), "gauss": gauss},
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": np_state["state"]["pos"],
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        },
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["words"].tolist()), py["gauss"]))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
