"""Which device runs a model: the one choice every command makes, training or not."""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """The device for `--device`; under torchrun each GPU rank takes its own GPU."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise CharlmError("--device cuda was asked for but no CUDA GPU is available; use "
                          "--device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def shared_gpu_problem(places: Sequence[tuple[str, str]]) -> str | None:
    """Why torchrun's ranks cannot train where they are, (host, GPU) of each rank in rank order:
    two on one GPU, which NCCL refuses; or None."""
    first_rank: dict[tuple[str, str], int] = {}
    for rank, place in enumerate(places):
        if place in first_rank:
            host, gpu = place
            return (f"torchrun ranks {first_rank[place]} and {rank} would both train on one GPU "
                    f"({gpu} of {host}): each rank needs a GPU of its own (NCCL refuses two ranks "
                    "on one); start at most as many ranks on a machine as it has GPUs "
                    "(--nproc-per-node), or train the ranks on CPUs with --device cpu")
        first_rank[place] = rank
    return None
