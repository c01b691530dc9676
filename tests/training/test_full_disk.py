"""A full disk while the metrics file is written, and a cache that cannot be written: one line
each, and nothing already saved is lost."""

from __future__ import annotations

import builtins
import errno
from pathlib import Path
from typing import Any

import pytest
from helpers.resuming import one_epoch
from helpers.training import TINY
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.outputs import metrics_path

__all__ = ["one_epoch"]  # the fixture, shared in helpers.resuming


class FillingDisk:
    """A text file on a disk with room for `room` more characters: a write that does not fit
    writes what fits, then fails as a full disk does."""

    def __init__(self, handle: Any, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data: str) -> int:
        if len(data) > self.room:
            self.handle.write(data[: self.room])
            self.handle.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> FillingDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def fill_disk_when(monkeypatch: pytest.MonkeyPatch, full_mode: str) -> None:
    """Every metrics write in `full_mode` ("a": append, "w": rewrite) finds the disk full after
    20 characters."""

    def opener(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        handle = builtins.open(path, mode, **kwargs)
        return FillingDisk(handle, 20) if mode == full_mode else handle

    monkeypatch.setattr("charlm.training.outputs.open", opener, raising=False)


def files_of(checkpoint: Path) -> dict[str, bytes]:
    """Every file beside the checkpoint (temporaries and locks included), by name."""
    return {p.name: p.read_bytes() for p in sorted(checkpoint.parent.iterdir()) if p.is_file()}


def error_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("full_mode", ["a", "w"], ids=["append-at-a-report",
                                                       "rewrite-at-resume"])
def test_a_full_disk_writing_metrics_keeps_checkpoint_and_metrics(
    one_epoch: Path, corpus_file: Path, monkeypatch: pytest.MonkeyPatch, full_mode: str
) -> None:
    before = files_of(one_epoch)
    assert metrics_path(one_epoch).read_text().count("\n") == 1
    fill_disk_when(monkeypatch, full_mode)
    resumed = CliRunner().invoke(app, ["train", str(corpus_file), "--resume", str(one_epoch),
                                       "--epochs", "2"])
    line = error_line(resumed)
    assert line.startswith(f"Error: could not write the metrics file {metrics_path(one_epoch)}: "
                           "No space left on device")
    # No half-written line, no temporary file, no lock: the files are as they were.
    assert files_of(one_epoch) == before

    monkeypatch.undo()
    again = CliRunner().invoke(app, ["train", str(corpus_file), "--resume", str(one_epoch),
                                     "--epochs", "2"])
    assert again.exit_code == 0, again.output
    history = load_checkpoint(one_epoch)["progress"]["metrics"]
    assert metrics_path(one_epoch).read_text().count("\n") == len(history) == 2


def test_a_cache_that_cannot_be_written_is_named_once_and_training_goes_on(
    corpus_file: Path, tmp_path: Path
) -> None:
    # A cache directory under a file: nothing can be created there, even by root.
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(out), "--epochs", "1",
                                      "--cache-dir", str(blocked / "cache"), *TINY])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"Warning: could not store the prepared corpus in the cache {blocked / 'cache'}")
    assert load_checkpoint(out)["progress"]["epoch"] == 1
