"""--tensorboard DIR: the report events as TensorBoard events, beside the console and metrics file.

Every value is logged at the step of the training tokens seen (the metrics file's `tokens`), so
runs of different batch sizes or ranks line up. A resumed run appends to the same directory;
events a crashed run wrote after its last checkpoint are purged, as the checkpoint forgets them.
Needs the optional `tensorboard` package (the extra `tensorboard`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from charlm.distribution import install_hint
from charlm.errors import CharlmError
from charlm.evaluation.scoring import perplexity_of
from charlm.training.outputs import Output

# Metrics record key -> TensorBoard tag.
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "val_ppl": "perplexity/validation",
    "lr": "learning_rate",
    "tokens_per_s": "tokens_per_s",
}


class TensorBoardOutput(Output):
    """Writes each report's figures as scalars and each report's samples as text."""

    def __init__(self, directory: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise CharlmError("--tensorboard needs the tensorboard package: "
                              f"{install_hint('tensorboard')}") from None
        self.directory = directory
        self.writer_class = SummaryWriter
        self.writer: Any = None
        self.step = 0

    def history(self, metrics: Sequence[Mapping[str, Any]]) -> None:
        # Created here, when the run starts, rather than before its input was checked.
        purge = int(metrics[-1]["tokens"]) + 1 if metrics else None
        try:
            self.writer = self.writer_class(str(self.directory), purge_step=purge)
        except OSError as error:
            raise CharlmError(f"cannot write TensorBoard events to {self.directory}: "
                              f"{error.strerror or error}") from None
        if metrics:
            self.step = int(metrics[-1]["tokens"])

    def report(self, metrics: Mapping[str, Any]) -> None:
        self.step = int(metrics["tokens"])
        for key, tag in SCALARS.items():
            self.writer.add_scalar(tag, metrics[key], self.step)
        self.writer.add_scalar("perplexity/train", perplexity_of(metrics["train_loss"]),
                               self.step)
        self.writer.flush()

    def samples(self, sentences: Sequence[str]) -> None:
        if not sentences:
            return
        # TensorBoard renders text as Markdown: one list item per sentence.
        self.writer.add_text("samples", "\n".join(f"- {s}" for s in sentences), self.step)
        self.writer.flush()

    def stop_progress(self) -> None:
        if self.writer is not None:
            self.writer.flush()
