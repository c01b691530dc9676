"""Learning-rate schedules: the rules that multiply the rate by --lr-decay, chosen by name
(--lr-schedule) from LR_SCHEDULES. A new schedule is one class and one entry there.

A rule acts at two kinds of moment. At a report (every --print-every sentences, and at the end of
an epoch that had none) rank 0 alone validates and decides, and every rank then trains at the rate
it decided (`follow`). At the start of an epoch every rank decides alike, as every rank starts it at
the same step. Each schedule's state is plain values, stored in the checkpoint, so a resumed run
continues it. The module loads without torch: the settings read its names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch


class Schedule:
    """A rule that multiplies the learning rate by `factor` (1: never)."""

    SETTINGS: ClassVar[dict[str, str]] = {"lr_decay": "factor"}
    """The settings (fields of TrainConfig) it takes, with its argument that receives each."""

    def __init__(self, optimizer: torch.optim.Optimizer, factor: float) -> None:
        self.optimizer = optimizer
        self.factor = factor
        self.reductions = 0

    @property
    def enabled(self) -> bool:
        return self.factor < 1.0

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, val_loss: float) -> str | None:
        """Record a report's validation loss; why it decayed the learning rate, or None."""
        return None

    def epoch_started(self, epoch: int) -> str | None:
        """Epoch `epoch` (counted from 0) starts, or goes on after a resume; why the rate
        decayed, or None."""
        return None

    def decay(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] *= self.factor
        self.reductions += 1

    def follow(self, lr: float) -> None:
        """Train at `lr`, the rate rank 0's schedule decided: under torchrun only rank 0 sees the
        reports, and every rank must step at the same rate or their models drift apart."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"reductions": self.reductions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a stored schedule; its settings stay as configured now."""
        self.reductions = int(state["reductions"])

    @classmethod
    def describe(cls, settings: Mapping[str, Any]) -> str:
        """The rule with these settings, in words, for `charlm info`."""
        return f"× {settings['lr_decay']:g}"


class PlateauSchedule(Schedule):
    """Reduce-on-plateau: decay the learning rate when the validation loss stops falling.

    The reports made at the current rate are kept. Once there are 2 × `patience` of them, the
    rate is multiplied by `factor` when the mean validation loss of the last `patience` reports
    is no lower than the mean of the `patience` before them; the reports then start again at the
    new rate.

    Why means, rather than the Keras rule (decay after `patience` reports without a new best):
    the validation loss of a model trained at a constant rate is noisy, and the noise shrinks
    only with the rate. Measured with benchmarks/known_optimum.py, the Keras rule with a fixed
    patience decayed the rate to nothing long before the model had settled, and with a patience
    that grew at each decay it held the rate high on lucky new bests, ending as noisy as a
    constant rate.
    """

    SETTINGS: ClassVar[dict[str, str]] = {"lr_decay": "factor", "patience": "patience"}

    def __init__(self, optimizer: torch.optim.Optimizer, factor: float, patience: int) -> None:
        super().__init__(optimizer, factor)
        self.patience = patience
        self.best = math.inf
        self.at_rate: list[float] = []  # validation losses reported at the current rate

    def step(self, val_loss: float) -> str | None:
        self.best = min(self.best, val_loss)
        self.at_rate.append(val_loss)
        window = self.patience
        if not self.enabled or len(self.at_rate) < 2 * window:
            return None
        recent = self.at_rate[-window:]
        before = self.at_rate[-2 * window : -window]
        if sum(recent) < sum(before):
            return None
        self.decay()
        self.at_rate = []
        return (f"validation loss stopped falling (the last {window} report(s) no lower on "
                f"average than the {window} before)")

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "factor": self.factor,
            "patience": self.patience,
            "best": self.best,
            "at_rate": list(self.at_rate),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = float(state["best"])
        # A schedule stored before the windows were kept starts its windows afresh.
        self.at_rate = [float(loss) for loss in state.get("at_rate", [])]

    @classmethod
    def describe(cls, settings: Mapping[str, Any]) -> str:
        window = settings["patience"]
        return (f"{super().describe(settings)} when the mean validation loss of the last "
                f"{window} report(s) is no lower than of the {window} before")


class EpochSchedule(Schedule):
    """Zaremba et al.'s: the rate kept for the first `keep_epochs` epochs, then multiplied by
    `factor` at the start of every later one, so epoch k (from 1) trains at the rate ×
    factor^max(0, k − keep_epochs)."""

    SETTINGS: ClassVar[dict[str, str]] = {"lr_decay": "factor", "lr_keep_epochs": "keep_epochs"}

    def __init__(self, optimizer: torch.optim.Optimizer, factor: float, keep_epochs: int
                 ) -> None:
        super().__init__(optimizer, factor)
        self.keep_epochs = keep_epochs
        self.decayed_for = -1  # the last epoch whose start decayed the rate

    def epoch_started(self, epoch: int) -> str | None:
        # A run resumed inside an epoch starts it again: its rate was decayed already.
        if not self.enabled or epoch < self.keep_epochs or epoch <= self.decayed_for:
            return None
        self.decay()
        self.decayed_for = epoch
        return f"epoch {epoch + 1} starts, past the first {self.keep_epochs} (--lr-keep-epochs)"

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"decayed_for": self.decayed_for}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.decayed_for = int(state["decayed_for"])

    @classmethod
    def describe(cls, settings: Mapping[str, Any]) -> str:
        return (f"kept {settings['lr_keep_epochs']} epoch(s), then {super().describe(settings)} "
                "at the start of each later epoch")


class BestSchedule(Schedule):
    """The word_language_model example's: multiplied by `factor` at every report whose
    validation loss is not better than the best so far."""

    def __init__(self, optimizer: torch.optim.Optimizer, factor: float) -> None:
        super().__init__(optimizer, factor)
        self.best = math.inf

    def step(self, val_loss: float) -> str | None:
        best = self.best
        if val_loss < best:
            self.best = val_loss
            return None
        if not self.enabled:
            return None
        self.decay()
        return f"validation loss {val_loss:.4f} not below the best so far, {best:.4f}"

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = float(state["best"])

    @classmethod
    def describe(cls, settings: Mapping[str, Any]) -> str:
        return (f"{super().describe(settings)} at every report whose validation loss is not "
                "below the best so far")


# The one list of schedules: adding one is its class and one entry here.
LR_SCHEDULES: dict[str, type[Schedule]] = {
    "plateau": PlateauSchedule,
    "epochs": EpochSchedule,
    "best": BestSchedule,
}
# A checkpoint's settings that name no schedule were trained with this one.
DEFAULT_SCHEDULE = "plateau"


def build_schedule(name: str, optimizer: torch.optim.Optimizer, settings: Mapping[str, Any]
                   ) -> Schedule:
    """The schedule `name` of `optimizer`, with the settings it takes."""
    schedule = LR_SCHEDULES[name]
    return schedule(optimizer, **{argument: settings[setting]
                                  for setting, argument in schedule.SETTINGS.items()})


def describe_schedule(name: str, settings: Mapping[str, Any]) -> str:
    """A schedule with these settings in words (a factor of 1: a constant rate)."""
    if settings["lr_decay"] >= 1.0:
        return "constant (--lr-decay 1)"
    return f"{name}: {LR_SCHEDULES[name].describe(settings)}"
