"""Where a trial trains: the one file that knows about CUDA.

A ``Device`` names the torch device, the autocast dtype (and so whether a gradient scaler runs),
whether the training data lives on the device, and the share of GPU memory the process may
take. Everything else (the loop, checkpoints, predictions, the data path) calls its methods, so
every branch runs on CPU in tests: ``Device(torch.device("cpu"), amp_dtype=torch.bfloat16,
resident_data=True)`` trains through the autocast and device-resident paths without a GPU.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

CUDA_CONTEXT_BYTES = 512 * 2**20  # what each process's CUDA context takes outside the allocator
# Allocation failures that surface as a plain RuntimeError rather than torch.OutOfMemoryError.
OOM_MARKERS = (
    "out of memory",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
    "CUDA_ERROR_OUT_OF_MEMORY",
    "cudaErrorMemoryAllocation",
    "can't allocate memory",
)


@dataclass(frozen=True)
class Device:
    torch_device: torch.device
    amp_dtype: torch.dtype | None = None  # autocast dtype; None trains in fp32
    amp_reason: str = "fp32 on CPU"
    resident_data: bool = False  # CIFAR's training and validation tensors live on the device
    gpu_share: float = 1.0  # of one GPU, as Ray assigned it

    @property
    def cuda(self) -> bool:
        return self.torch_device.type == "cuda"

    @property
    def name(self) -> str:
        if self.cuda:
            return torch.cuda.get_device_name(self.torch_device)
        return "CPU"

    @property
    def finite_check_every(self) -> int:
        """Steps between loss checks: each one is a host sync, cheap only on the CPU."""
        return 10 if self.cuda else 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.torch_device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Enabled for fp16 only: bf16 and fp32 have fp32's exponent range."""
        enabled = self.amp_dtype == torch.float16
        return torch.amp.GradScaler(self.torch_device.type, enabled=enabled)

    def synchronize(self) -> None:
        """Wait for queued kernels, so a time taken next measures work, not a launch."""
        if self.cuda:
            torch.cuda.synchronize(self.torch_device)

    def prepare(self) -> None:
        """Once per trial: cuDNN autotuning, and this process held to its share of memory."""
        if not self.cuda:
            return
        torch.backends.cudnn.benchmark = True  # CIFAR's shapes are fixed: tune once, reuse
        # gpu_reserved_gb is then this trial's peak, not the reused worker's.
        torch.cuda.reset_peak_memory_stats(self.torch_device)
        total = torch.cuda.get_device_properties(self.torch_device).total_memory
        fraction = memory_fraction(self.gpu_share, total)
        torch.cuda.set_per_process_memory_fraction(fraction, self.torch_device)

    def release(self) -> None:
        """Hand cached blocks back when a trial ends, so the next one in this worker (or a
        neighbour on the same GPU) can use them."""
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def rng_state(self) -> dict[str, torch.Tensor]:
        """This device's generator state only: a restore may see fewer GPUs than the save."""
        return {"cuda": torch.cuda.get_rng_state(self.torch_device)} if self.cuda else {}

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        # Checkpoints from before this file saved every GPU's state as a list: not restorable
        # into a process that may see other GPUs, so those start the device generator afresh.
        if self.cuda and isinstance(state.get("cuda"), torch.Tensor):
            torch.cuda.set_rng_state(state["cuda"].cpu(), self.torch_device)

    def memory(self) -> dict[str, float]:
        """Peak memory this process reserved on the GPU, in GB (what the sizing advice uses)."""
        if not self.cuda:
            return {}
        return {"gpu_reserved_gb": torch.cuda.max_memory_reserved(self.torch_device) / 1e9}


def amp_dtype_for(capability: tuple[int, int] | None) -> tuple[torch.dtype | None, str]:
    """The autocast dtype for a GPU of ``capability`` (None: no GPU), and why.

    bf16 only where the tensor cores have it (compute capability 8.0, Ampere, and later);
    ``torch.cuda.is_bf16_supported()`` also says yes where bf16 is emulated (V100, T4), slowly.
    """
    if capability is None:
        return None, "fp32 on CPU"
    version = f"{capability[0]}.{capability[1]}"
    if capability >= (8, 0):
        return torch.bfloat16, f"bf16: native on compute capability {version} (>= 8.0)"
    return torch.float16, f"fp16 with a gradient scaler: compute capability {version} < 8.0"


def memory_fraction(gpu_share: float, total_bytes: int) -> float:
    """The allocator's cap for a process given ``gpu_share`` of a GPU.

    The CUDA context sits outside the allocator, so it comes off the share; never below half
    the share, so a small share on a small GPU still trains.
    """
    if gpu_share >= 1:
        return 1.0
    return max(gpu_share - CUDA_CONTEXT_BYTES / total_bytes, gpu_share / 2)


def choose_device(gpu_ids: Sequence | None = None, gpu_share: float = 1.0) -> Device:
    """The device a trial trains on.

    ``gpu_ids`` are the GPUs Ray assigned to the trial (``ray.get_gpu_ids()``): CUDA only when
    there are some, since Ray leaves GPUs visible to trials given none. ``None`` means outside
    Ray: the GPU if one is visible.
    """
    wanted = torch.cuda.is_available() if gpu_ids is None else len(gpu_ids) > 0
    if not (wanted and torch.cuda.is_available()):
        return Device(torch.device("cpu"))
    device = torch.device("cuda", torch.cuda.current_device())
    dtype, reason = amp_dtype_for(torch.cuda.get_device_capability(device))
    return Device(device, dtype, reason, resident_data=True, gpu_share=min(gpu_share, 1.0))


def is_out_of_memory(error: BaseException) -> bool:
    """Host or device allocation failures, including cuBLAS's and cuDNN's own."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(error).lower()
    return any(marker.lower() in text for marker in OOM_MARKERS)


def trials_per_gpu(gpus_per_trial: float) -> int:
    """How many trials of ``gpus_per_trial`` fit on one GPU (0.2 -> 5, not ``1 // 0.2 == 4``)."""
    return math.floor(1 / gpus_per_trial + 1e-6)
