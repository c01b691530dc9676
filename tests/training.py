"""Helpers for tests that train tiny models in-process or in a subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from charlm.options import resolve
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
        "--batch-size", "16", "--samples", "0"]


def tiny_flags(**changes: Any) -> dict[str, Any]:
    """Flags of a tiny CPU run, as the CLI would pass them (None = not given)."""
    flags: dict[str, Any] = {"embedding_dim": 8, "hidden_dim": 16, "vocabulary_size": 50,
                             "batch_size": 16, "samples": 0, "device": "cpu"}
    flags.update(changes)
    return flags


def config_of(**flags: Any) -> TrainConfig:
    return resolve(TrainConfig, flags, {})


def quiet_reporter() -> Reporter:
    return Reporter(Console(file=io.StringIO(), width=200))


def charlm_process(args: Sequence[str], extra_env: dict[str, str] | None = None,
                   cwd: Path | None = None) -> subprocess.Popen[str]:
    """`python -m charlm ARGS` in a real process, using this checkout's package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARLM_")}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    env.update(extra_env or {})
    return subprocess.Popen([sys.executable, "-m", "charlm", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
