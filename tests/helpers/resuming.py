"""Runs stopped and resumed, and what they are compared with."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from charlm.checkpoint.files import load_checkpoint
from charlm.training.console import Reporter
from charlm.training.loop import run_training
from helpers.training import config_of, quiet_reporter, tiny_flags


def assert_same_state(a: Path, b: Path) -> None:
    first, second = load_checkpoint(a), load_checkpoint(b)
    assert first["model_state"].keys() == second["model_state"].keys()
    for name, tensor in first["model_state"].items():
        assert torch.equal(tensor, second["model_state"][name]), name
    opt_a, opt_b = first["optimizer_state"], second["optimizer_state"]
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for key, state in opt_a["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b["state"][key][name]))
    assert torch.equal(first["torch_rng_state"], second["torch_rng_state"])
    assert first["progress"]["steps"] == second["progress"]["steps"]


def metric_lines(checkpoint: Path) -> list[dict[str, float]]:
    lines = checkpoint.with_name(checkpoint.name + ".metrics.jsonl").read_text().splitlines()
    keep = ("epoch", "examples", "tokens", "train_loss", "val_loss", "lr")
    return [{k: json.loads(line)[k] for k in keep} for line in lines]


@pytest.fixture
def uninterrupted(corpus_file: Path, tmp_path: Path) -> Path:
    """A run of two epochs (document context, the default), reports every 95 sentences."""
    out = tmp_path / "whole.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=2,
                                        print_every=95)), quiet_reporter())
    return out


class SignalAfter(Reporter):
    """Sends this process a real SIGINT once training has seen `sentences` sentences."""

    def __init__(self, sentences: int) -> None:
        super().__init__(quiet_reporter().console)
        self.sentences = sentences
        self.sent = False

    def advance(self, done: int, loss: float, tokens_per_s: float) -> None:
        if done >= self.sentences and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def one_epoch(corpus_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "one.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=1,
                                        print_every=1000)), quiet_reporter())
    return out


