"""Runs interrupted during a save, and the temporary files a save leaves."""

from __future__ import annotations

from pathlib import Path

from helpers.training import (
    Child,
    paused_saves_process,
)


def temporaries(checkpoint: Path) -> list[Path]:
    return sorted(checkpoint.parent.glob(f".{checkpoint.name}.tmp-*"))


def slow_save_process(corpus_file: Path, checkpoint: Path) -> Child:
    """Resume `checkpoint` with every save stopped between the temporary file and the rename."""
    return paused_saves_process(
        ["train", str(corpus_file), "--resume", str(checkpoint), "--epochs", "3",
         "--print-every", "16"])


