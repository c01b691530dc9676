"""Where and how the training step runs: the device, CPU threads, autocast, host-to-device copies
and how often the training loss is read back from the device."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from charlm.data.types import Resets
from charlm.devices import available_cores, pick_device
from charlm.model.state import State

# Steps between reading the training loss back from a GPU: each read waits for the device (and,
# under torchrun, for every rank), so it is not done on every step. On a CPU reading costs
# nothing and is done every step, so a diverging loss is named at its exact step.
GPU_LOSS_SYNC_STEPS = 16


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    threads: int
    amp: bool

    @classmethod
    def start(cls, device_name: str, threads: int, amp: bool, local_rank: int = 0,
              ranks_on_host: int = 1) -> Runtime:
        """Pick the device and set this process's CPU threads."""
        return cls(pick_device(device_name, local_rank), configure_cpu(threads, ranks_on_host),
                   amp)

    @property
    def loss_sync_steps(self) -> int:
        return 1 if self.device.type == "cpu" else GPU_LOSS_SYNC_STEPS

    def loss_due(self, step: int) -> bool:
        """Whether the training loss should be read back after `step`."""
        return step % self.loss_sync_steps == 0

    def random_state(self) -> dict[str, torch.Tensor]:
        """This process's random generators (dropout draws from them): the CPU's, and the GPU's
        it trains on."""
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def restore_random_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Continue from `state`; a GPU state is left out on the CPU, and a run saved on the CPU
        keeps the GPU's seeded state."""
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def amp_warning(self) -> str | None:
        if self.amp and self.device.type != "cuda":
            return ("--amp on a CPU runs bf16 autocast, which is usually slower than float32 on "
                    "CPUs without native bf16 instructions")
        return None

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A batch tensor on the device; to a GPU through pinned memory, without waiting."""
        if self.device.type != "cuda":
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def loss_module(self, model: nn.Module) -> LossModule:
        return LossModule(model, self.device.type if self.amp else None)


def configure_cpu(threads: int, ranks_on_host: int = 1) -> int:
    """Set the CPU threads of this process and return the count.

    0 shares the machine's cores among the ranks on it: ranks that each take every core fight
    for them, and OpenMP threads that wait on a busy core stall the whole step.
    """
    if threads <= 0:
        threads = max(1, available_cores() // ranks_on_host)
    torch.set_num_threads(threads)
    # Denormal floats are slow on x86 and make no difference to learning.
    torch.set_flush_denormal(True)
    return threads


class LossModule(nn.Module):
    """The model's summed training loss as a forward pass, the form DistributedDataParallel
    synchronises, optionally under bf16 autocast."""

    def __init__(self, model: nn.Module, amp_device: str | None) -> None:
        super().__init__()
        self.model = model
        self.amp_device = amp_device

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None = None,
                resets: Resets | None = None) -> tuple[torch.Tensor, torch.Tensor, State]:
        """The summed loss, the activation penalty to add to its mean (AR and TAR), and the
        final state (to carry into the next window of a stream)."""
        context = (torch.autocast(self.amp_device, dtype=torch.bfloat16)
                   if self.amp_device else contextlib.nullcontext())
        with context:
            loss_sum, penalty, final = self.model.training_loss(inputs, targets, state, resets)
        return loss_sum.float(), penalty.float(), final
