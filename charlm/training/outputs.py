"""Where training's report events go. Every output receives the same events; each acts on those
it cares about. Adding an output (TensorBoard, say) is one new class and one line in
`build_outputs`."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from charlm.errors import CharlmError, CharlmWarning
from charlm.paths import OwnOutput, sync_directory, write_atomically

# What every report of the metrics file holds (and `charlm plot` needs).
REPORT_FIELDS = frozenset({"tokens", "train_loss", "val_loss"})


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

    def lr_decayed(self, old: float, new: float, reason: str) -> None:
        """The schedule multiplied the rate, for `reason`."""

    def samples(self, sentences: Sequence[str]) -> None: ...

    def saved(self, path: str) -> None: ...


class WarningsOutput(Output):
    """Training's events, for a Python caller: warnings through `warnings`, nothing printed."""

    def warning(self, text: str) -> None:
        warnings.warn(text, CharlmWarning, stacklevel=1)


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

    def lr_decayed(self, old: float, new: float, reason: str) -> None:
        self._send("lr_decayed", old, new, reason)

    def samples(self, sentences: Sequence[str]) -> None:
        self._send("samples", sentences)

    def saved(self, path: str) -> None:
        self._send("saved", path)


def metrics_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".metrics.jsonl")


def is_report(record: Any) -> bool:
    """Whether a metrics line's value is a training report."""
    return isinstance(record, dict) and REPORT_FIELDS <= record.keys()


def is_metrics_file(path: Path) -> bool:
    """Whether every line of the file is a charlm report (a file with none holds nothing to
    lose, so an empty one counts too)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return all(is_report(json.loads(line)) for line in handle if line.strip())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


# What a run replaces beside its checkpoint, and only as it replaces the checkpoint.
METRICS_OUTPUT = OwnOutput("a charlm metrics file", is_metrics_file)


class MetricsFile(Output):
    """<checkpoint>.metrics.jsonl: one JSON object per report, the run's whole history. Every
    write reaches the disk before the run goes on, so the file never holds fewer reports than
    the checkpoint saved after it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def history(self, metrics: Sequence[Mapping[str, Any]]) -> None:
        # The checkpoint's record is the run's history: the file continues from it. The run
        # checked at its start that a file already here is charlm's own to replace.
        if not metrics:
            self.path.unlink(missing_ok=True)
            return
        self._rewrite(metrics)

    def report(self, metrics: Mapping[str, Any]) -> None:
        self._append(metrics)

    def _append(self, metrics: Mapping[str, Any]) -> None:
        """Add one line; a failed write is cut off again, so the file never holds half a line."""
        try:
            size: int | None = self.path.stat().st_size
        except FileNotFoundError:
            size = None
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(dict(metrics)) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            with contextlib.suppress(OSError):
                if size is None:
                    self.path.unlink(missing_ok=True)
                else:
                    os.truncate(self.path, size)
            raise self._failed(error) from None
        if size is None:
            sync_directory(self.path.parent)  # the new file's name, too, is on the disk

    def _rewrite(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace the whole file atomically, so a failed write never loses the history already
        there."""
        text = "".join(json.dumps(dict(m)) + "\n" for m in records)

        def write(staged: Path) -> None:
            with open(staged, "w", encoding="utf-8") as handle:
                handle.write(text)

        try:
            write_atomically(self.path, write)
        except OSError as error:
            raise self._failed(error) from None

    def _failed(self, error: OSError) -> CharlmError:
        return CharlmError(f"could not write the metrics file {self.path}: "
                           f"{error.strerror or error}; it and the checkpoint are as they were "
                           "before; free some disk space and resume the run")
