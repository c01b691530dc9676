"""What training shows the user: a rich progress bar at a terminal, plain lines elsewhere.

With log_format "json" every event is one JSON object on its own line (a key "event" names it),
and no progress bar is ever drawn, so the output can be piped into other programs. This module is
the only place that prints training output.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from charlm.training.outputs import Output

PLAIN_PROGRESS_SECONDS = 30.0


def _json_value(value: Any) -> Any:
    """JSON has no infinity or NaN: such floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Reporter(Output):
    """Prints training output; rich widgets only when the console is a terminal and neither
    quiet nor JSON output was asked for."""

    def __init__(
        self, console: Console | None = None, log_format: str = "text", quiet: bool = False
    ) -> None:
        self.console = console or Console(highlight=False)
        self.json = log_format == "json"
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet and not self.json
        self._progress: Progress | None = None
        self._task: Any = None
        self._last_plain = 0.0

    def event(self, kind: str, **values: Any) -> None:
        record = {"event": kind, **{k: _json_value(v) for k, v in values.items()}}
        # Written to the file directly: rich would wrap long lines or read markup and emoji codes.
        self.console.file.write(json.dumps(record, default=str) + "\n")
        self.console.file.flush()

    def line(self, text: str) -> None:
        if self.json:
            self.event("message", text=text)
            return
        self.console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def warning(self, text: str) -> None:
        if self.json:
            self.event("warning", text=text)
            return
        self.line(f"Warning: {text}")

    def settings(self, title: str, values: Mapping[str, Any]) -> None:
        if self.json:
            self.event("settings", title=title, values=dict(values))
        elif self.live:
            table = Table(title=title, show_header=False, box=None, pad_edge=False)
            for name, value in values.items():
                table.add_row(name, str(value))
            self.console.print(table)
        else:
            self.line(f"{title}: " + " ".join(f"{k}={v}" for k, v in values.items()))

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self.stop_progress()
        self._epoch_label = f"epoch {epoch}/{epochs}"
        self._total = total
        if self.live:
            self._start_bar(done)

    def _start_bar(self, done: int) -> None:
        self._progress = Progress(
            TextColumn(self._epoch_label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task("train", total=self._total, completed=done,
                                             status="")
        self._progress.start()

    def advance(self, done: int, loss: float, tokens_per_s: float) -> None:
        status = f"loss {loss:.3f}  {tokens_per_s:,.0f} tok/s"
        if self.live and self._progress is None:
            # A report mid-epoch took the bar down to print below it; it comes back here.
            self._start_bar(done)
        if self._progress is not None:
            self._progress.update(self._task, completed=done, status=status)
            return
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last_plain >= PLAIN_PROGRESS_SECONDS:
            self._last_plain = now
            if self.json:
                self.event("progress", epoch=self._epoch_label, sentences=done,
                           epoch_sentences=self._total, train_loss=loss,
                           tokens_per_s=tokens_per_s)
            else:
                self.line(f"{self._epoch_label} sentences {done}/{self._total} {status}")

    def stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def report(self, metrics: Mapping[str, Any]) -> None:
        self.stop_progress()
        if self.json:
            self.event("report", **metrics)
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.line(
            f"{stamp}  epoch {metrics['epoch']}  sentences {metrics['examples']:,}  "
            f"train loss {metrics['train_loss']:.4f}  val loss {metrics['val_loss']:.4f}  "
            f"val ppl {metrics['val_ppl']:.2f}  {metrics['tokens_per_s']:,.0f} tok/s"
        )

    def samples(self, sentences: Sequence[str]) -> None:
        if not sentences:
            return
        if self.json:
            self.event("samples", samples=list(sentences))
        elif self.live:
            body = "\n".join(f"• {s}" for s in sentences)
            self.console.print(Panel(Text(body), title="samples", expand=False))
        else:
            for sentence in sentences:
                self.line(f"  sample: {sentence}")

    def lr_decayed(self, old: float, new: float, reason: str) -> None:
        if self.json:
            self.event("lr_decayed", old_lr=old, lr=new, reason=reason)
            return
        self.line(f"{reason}: learning rate {old:.3g} -> {new:.3g}")

    def saved(self, path: str) -> None:
        if self.json:
            self.event("saved", path=path)
            return
        self.line(f"saved checkpoint {path}")
