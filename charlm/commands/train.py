"""`charlm train`: the console the user sees, then the training run."""

from __future__ import annotations

from pathlib import Path

from charlm.training.config import TrainConfig
from charlm.training.console import Reporter
from charlm.training.loop import run_training


def train_command(config: TrainConfig) -> Path:
    return run_training(config, Reporter(log_format="json" if config.json else "text",
                                  quiet=config.quiet))
