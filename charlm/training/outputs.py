"""Where training's report events go. Every output receives the same events; each acts on those
it cares about. Adding an output (TensorBoard, say) is one new class and one line in
`build_outputs`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from charlm.errors import CharlmError


class Output:
    """One receiver of training events; every event does nothing unless overridden."""

    def line(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...

    def settings(self, title: str, values: Mapping[str, Any]) -> None: ...

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None: ...

    def advance(self, done: int, loss: float, tokens_per_s: float) -> None: ...

    def stop_progress(self) -> None: ...

    def history(self, metrics: Sequence[Mapping[str, Any]]) -> None:
        """The reports so far (none for a new run, the checkpoint's for a resumed one)."""

    def report(self, metrics: Mapping[str, Any]) -> None: ...

    def lr_decayed(self, old: float, new: float, patience: int) -> None: ...

    def samples(self, sentences: Sequence[str]) -> None: ...

    def saved(self, path: str) -> None: ...


class Outputs(Output):
    """Sends each event to every output, in order."""

    def __init__(self, outputs: Sequence[Output]) -> None:
        self.outputs = list(outputs)

    def _send(self, event: str, *args: Any) -> None:
        for output in self.outputs:
            getattr(output, event)(*args)

    def line(self, text: str) -> None:
        self._send("line", text)

    def warning(self, text: str) -> None:
        self._send("warning", text)

    def settings(self, title: str, values: Mapping[str, Any]) -> None:
        self._send("settings", title, values)

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self._send("start_epoch", epoch, epochs, total, done)

    def advance(self, done: int, loss: float, tokens_per_s: float) -> None:
        self._send("advance", done, loss, tokens_per_s)

    def stop_progress(self) -> None:
        self._send("stop_progress")

    def history(self, metrics: Sequence[Mapping[str, Any]]) -> None:
        self._send("history", metrics)

    def report(self, metrics: Mapping[str, Any]) -> None:
        self._send("report", metrics)

    def lr_decayed(self, old: float, new: float, patience: int) -> None:
        self._send("lr_decayed", old, new, patience)

    def samples(self, sentences: Sequence[str]) -> None:
        self._send("samples", sentences)

    def saved(self, path: str) -> None:
        self._send("saved", path)


def metrics_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".metrics.jsonl")


class MetricsFile(Output):
    """<checkpoint>.metrics.jsonl: one JSON object per report, the run's whole history."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def history(self, metrics: Sequence[Mapping[str, Any]]) -> None:
        # The checkpoint's record is the run's history: the file continues from it.
        if not metrics:
            self.path.unlink(missing_ok=True)
            return
        self._write("w", metrics)

    def report(self, metrics: Mapping[str, Any]) -> None:
        self._write("a", [metrics])

    def _write(self, mode: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Append, or replace the whole file through a renamed temporary file, so a failed write
        never loses the history already there."""
        target = self.path if mode == "a" else self.path.with_name(
            f".{self.path.name}.tmp-{os.getpid()}")
        try:
            with open(target, mode, encoding="utf-8") as handle:
                handle.write("".join(json.dumps(dict(m)) + "\n" for m in records))
            if target != self.path:
                os.replace(target, self.path)
        except OSError as error:
            if target != self.path:
                target.unlink(missing_ok=True)
            raise CharlmError(f"could not write the metrics file {self.path}: "
                              f"{error.strerror or error}; the checkpoint is intact") from None
