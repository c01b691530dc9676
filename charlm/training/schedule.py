"""Reduce-on-plateau: decay the learning rate when the validation loss stops improving.

It follows the Keras rule: after `patience` reports in a row without a validation loss below the
best so far, the learning rate is multiplied by `factor` and the count starts again. Its state is
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
        self.bad_reports = 0
        self.reductions = 0

    @property
    def enabled(self) -> bool:
        return self.factor < 1.0

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, val_loss: float) -> bool:
        """Record a report's validation loss; True when it decayed the learning rate."""
        if val_loss < self.best:
            self.best = val_loss
            self.bad_reports = 0
            return False
        self.bad_reports += 1
        if not self.enabled or self.bad_reports < self.patience:
            return False
        for group in self.optimizer.param_groups:
            group["lr"] *= self.factor
        self.bad_reports = 0
        self.reductions += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "patience": self.patience,
            "best": self.best,
            "bad_reports": self.bad_reports,
            "reductions": self.reductions,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a stored schedule; factor and patience stay as configured now."""
        self.best = float(state["best"])
        self.bad_reports = int(state["bad_reports"])
        self.reductions = int(state["reductions"])
