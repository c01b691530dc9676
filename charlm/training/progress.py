"""Where training stands, and the running figures (loss and speed) since the last report."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

EARLY_STOP = "early-stop"  # Progress.stopped when --early-stop ended the run
# Keys of the running figures in a checkpoint's "progress" record, beside Progress's fields.
FIGURES_KEYS = ("interval_tokens", "interval_elapsed_s", "interval_loss_sum")


@dataclass(frozen=True)
class Verdict:
    """What a report's validation loss decided."""

    improved: bool
    """It is the best validation loss so far."""
    stop: bool
    """--early-stop ends the run at this report."""


@dataclass
class Progress:
    """Where training stands; saved in the checkpoint."""

    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches done in the current epoch
    examples: int = 0  # training sentences seen
    tokens: int = 0  # training tokens predicted (no padding)
    steps: int = 0
    elapsed_s: float = 0.0  # training wall-clock time, reports excluded
    reports: int = 0
    best_val_loss: float = math.inf
    metrics: list[dict[str, Any]] = field(default_factory=list)
    # Whether the current epoch has had a report, so a short epoch still gets one at its end.
    reported_in_epoch: bool = False
    reports_without_improvement: int = 0  # reports in a row since the best validation loss
    stopped: str | None = None  # why the run ended before its epochs: "early-stop"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Progress:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def reached_epoch(self) -> int:
        """The epoch training is in, counted from 1; at an epoch's end, the one just ended."""
        return self.epoch + (1 if self.batch_in_epoch else 0)

    def stopped_early(self, epochs: int) -> str:
        """Where and why --early-stop ended the run, for the messages that say so."""
        count = self.reports_without_improvement
        return (f"stopped early at epoch {self.reached_epoch} of {epochs}: the validation loss "
                f"has not improved for {count} report{'' if count == 1 else 's'} in a row "
                f"(best {self.best_val_loss:.4f})")

    def judge(self, val_loss: float, early_stop: int, epochs: int) -> Verdict:
        """Count a report of this validation loss; say whether it improved on the best, and
        whether --early-stop ends the run here (recorded in `stopped`)."""
        improved = val_loss < self.best_val_loss
        self.reports += 1
        self.best_val_loss = min(self.best_val_loss, val_loss)
        self.reports_without_improvement = 0 if improved else self.reports_without_improvement + 1
        if early_stop and self.reports_without_improvement >= early_stop and self.epoch < epochs:
            self.stopped = EARLY_STOP
        return Verdict(improved, self.stopped == EARLY_STOP)

    def go_on(self, early_stop: int) -> None:
        """Continue a resumed run: whatever stopped it before is no longer why it ends. A run
        that stopped early and goes on with its patience spent (resumed for more epochs) gets
        `early_stop` new reports to improve on its best."""
        if self.stopped == EARLY_STOP and self.reports_without_improvement >= early_stop > 0:
            self.reports_without_improvement = 0
        self.stopped = None

    def advance(self, sentences: int, tokens: int, batches: int, epoch_end: int) -> bool:
        """Count one step of `batches` batches; returns whether it ended the epoch (reached
        batch `epoch_end`)."""
        self.steps += 1
        self.batch_in_epoch += batches
        self.examples += sentences
        self.tokens += tokens
        if self.batch_in_epoch < epoch_end:
            return False
        self.epoch += 1
        self.batch_in_epoch = 0
        return True

    def report_due(self, sentences: int, print_every: int, epoch_ended: bool,
                   epochs: int) -> bool:
        """Whether the step that brought `sentences` calls for a report: every `print_every`
        sentences, at the end of an epoch that had none, and at the end of training."""
        crossed = self.examples // print_every > (self.examples - sentences) // print_every
        return (crossed or (epoch_ended and not self.reported_in_epoch)
                or (epoch_ended and self.epoch == epochs))


class RunningFigures:
    """The training loss and speed since the last report.

    The loss of each step stays on the device, summed, until it is read back (`read_back`): a
    read makes the host wait for the device. Time counts training only: `pause` starts the clock
    again after a report.
    """

    def __init__(self, progress: Progress, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.tokens_at_report = int(state.get("interval_tokens", 0))
        self.elapsed_at_report = float(state.get("interval_elapsed_s", 0.0))
        self.loss_sum = float(state.get("interval_loss_sum", 0.0))
        self.unread: torch.Tensor | None = None
        self.unread_steps = 0
        self.progress = progress
        self.tick = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        return dict(zip(FIGURES_KEYS, (self.tokens_at_report, self.elapsed_at_report,
                                       self.loss_sum)))

    def add_step_loss(self, loss_sum: torch.Tensor) -> None:
        detached = loss_sum.detach()
        self.unread = detached if self.unread is None else self.unread + detached
        self.unread_steps += 1

    def take_unread(self) -> tuple[torch.Tensor | None, int]:
        """The losses summed since the last read, and over how many steps; then none."""
        unread, steps = self.unread, self.unread_steps
        self.unread, self.unread_steps = None, 0
        return unread, steps

    def add_read_loss(self, value: float) -> None:
        self.loss_sum += value

    def lap(self) -> None:
        """Add the time since the last lap to the training time."""
        now = time.monotonic()
        self.progress.elapsed_s += now - self.tick
        self.tick = now

    def pause(self) -> None:
        """Leave the time since the last lap (a report) out of the training time."""
        self.tick = time.monotonic()

    @property
    def train_loss(self) -> float:
        return self.loss_sum / max(self.progress.tokens - self.tokens_at_report, 1)

    @property
    def tokens_per_s(self) -> float:
        return ((self.progress.tokens - self.tokens_at_report)
                / max(self.progress.elapsed_s - self.elapsed_at_report, 1e-9))

    def restart(self) -> None:
        """Start the next report's figures."""
        self.tokens_at_report = self.progress.tokens
        self.elapsed_at_report = self.progress.elapsed_s
        self.loss_sum = 0.0
