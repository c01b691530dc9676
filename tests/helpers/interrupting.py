"""Runs interrupted during a save, and the temporary files a save leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from charlm.training.loop import run_training
from helpers.training import (
    Child,
    config_of,
    paused_saves_process,
    quiet_reporter,
    tiny_flags,
)


def temporaries(checkpoint: Path) -> list[Path]:
    return sorted(checkpoint.parent.glob(f".{checkpoint.name}.tmp-*"))


@pytest.fixture
def one_epoch(corpus_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "one.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=1,
                                        print_every=1000)), quiet_reporter())
    return out


def slow_save_process(corpus_file: Path, checkpoint: Path) -> Child:
    """Resume `checkpoint` with every save stopped between the temporary file and the rename."""
    return paused_saves_process(
        ["train", str(corpus_file), "--resume", str(checkpoint), "--epochs", "3",
         "--print-every", "16"])


