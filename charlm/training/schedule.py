"""Reduce-on-plateau: decay the learning rate when the validation loss stops falling.

The reports made at the current rate are kept. Once there are 2 × `patience` of them, the rate is
multiplied by `factor` when the mean validation loss of the last `patience` reports is no lower
than the mean of the `patience` before them; the reports then start again at the new rate.

Why means, rather than the Keras rule (decay after `patience` reports without a new best): the
validation loss of a model trained at a constant rate is noisy, and the noise shrinks only with
the rate. Measured with benchmarks/known_optimum.py, the Keras rule with a fixed patience decayed
the rate to nothing long before the model had settled, and with a patience that grew at each
decay it held the rate high on lucky new bests, ending as noisy as a constant rate. The state is
plain values, stored in the checkpoint so a resumed run continues the same schedule.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class PlateauSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, factor: float, patience: int) -> None:
        self.optimizer = optimizer
        self.factor = factor
        self.patience = patience
        self.best = math.inf
        self.at_rate: list[float] = []  # validation losses reported at the current rate
        self.reductions = 0

    @property
    def enabled(self) -> bool:
        return self.factor < 1.0

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, val_loss: float) -> bool:
        """Record a report's validation loss; True when it decayed the learning rate."""
        self.best = min(self.best, val_loss)
        self.at_rate.append(val_loss)
        window = self.patience
        if not self.enabled or len(self.at_rate) < 2 * window:
            return False
        recent = self.at_rate[-window:]
        before = self.at_rate[-2 * window : -window]
        if sum(recent) < sum(before):
            return False
        for group in self.optimizer.param_groups:
            group["lr"] *= self.factor
        self.at_rate = []
        self.reductions += 1
        return True

    def follow(self, lr: float) -> None:
        """Train at `lr`, the rate rank 0's schedule decided: under torchrun only rank 0 sees the
        reports, and every rank must step at the same rate or their models drift apart."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "patience": self.patience,
            "best": self.best,
            "at_rate": list(self.at_rate),
            "reductions": self.reductions,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a stored schedule; factor and patience stay as configured now."""
        self.best = float(state["best"])
        # A schedule stored before the windows were kept starts its windows afresh.
        self.at_rate = [float(loss) for loss in state.get("at_rate", [])]
        self.reductions = int(state["reductions"])
