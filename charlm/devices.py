"""Which device runs a model: the one choice every command makes, training or not."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from charlm.errors import CharlmError

if TYPE_CHECKING:
    import torch

# Read by the settings (and --help) without loading torch.
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def available_cores() -> int:
    """The processor cores this process may run on (its affinity, as a batch scheduler or
    taskset sets it; else every core of the machine)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def pick_device(name: str, local_rank: int = 0, ranks_on_host: int = 1) -> torch.device:
    """The device for `--device`; under torchrun each GPU rank takes its own GPU."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise CharlmError("--device cuda was asked for but no CUDA GPU is available; use "
                          "--device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    problem = shared_gpu_problem(ranks_on_host, torch.cuda.device_count())
    if problem:
        raise CharlmError(problem)
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def shared_gpu_problem(ranks_on_host: int, gpus: int) -> str | None:
    """Why torchrun's ranks on this machine cannot each have a GPU, or None."""
    if ranks_on_host <= gpus:
        return None
    return (f"torchrun started {ranks_on_host} ranks on this machine, which has {gpus} CUDA "
            f"GPU{'s' if gpus != 1 else ''}: each rank needs a GPU of its own (NCCL refuses two "
            f"ranks on one); start at most {gpus} (--nproc-per-node {gpus}), or train the ranks "
            "on CPUs with --device cpu")
