"""`charlm info` on a checkpoint trained in the session."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from typer.testing import CliRunner

from charlm.checkpoint.files import FORMAT_VERSION, load_checkpoint
from charlm.cli import app
from charlm.options import resolve, settings_of
from charlm.training.config import TrainConfig

runner = CliRunner()


def info_json(checkpoint: Path) -> dict:
    result = runner.invoke(app, ["info", str(checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_info_json_round_trips_the_config(trained_model: dict) -> None:
    info = info_json(trained_model["checkpoint"])
    stored = load_checkpoint(trained_model["checkpoint"])["train_config"]
    rebuilt = TrainConfig(**info["config"])
    assert settings_of(rebuilt) == stored
    # The config also resolves as given flags: it is a valid configuration, not just a dump.
    assert resolve(TrainConfig, info["config"], {}) == rebuilt
    assert rebuilt.embedding_dim == 8 and rebuilt.hidden_dim == 16
    assert rebuilt.valid == str(trained_model["valid"])


def test_info_describes_model_vocabulary_and_progress(trained_model: dict) -> None:
    info = info_json(trained_model["checkpoint"])
    document = load_checkpoint(trained_model["checkpoint"])
    parameters = sum(t.numel() for t in document["model_state"].values()
                     if isinstance(t, torch.Tensor))
    assert info["model"]["parameters"] == parameters
    assert info["model"]["cell"] == "gru" and info["model"]["hidden_dim"] == 16
    assert info["vocabulary"]["size"] == len(document["vocabulary"]) == 50
    examples = info["vocabulary"]["examples"]
    assert examples and set(examples) <= set(document["vocabulary"][3:])
    last = trained_model["metrics"][-1]
    assert info["progress"]["epochs_completed"] == 3
    assert info["progress"]["sentences"] == last["examples"]
    assert info["progress"]["tokens"] == last["tokens"]
    best = min(m["val_loss"] for m in trained_model["metrics"])
    assert math.isclose(info["best_val_loss"], best)
    assert math.isclose(info["best_val_ppl"], math.exp(best))
    assert info["format_version"] == FORMAT_VERSION
    assert info["context"] == document["context"] == "document"
    splitter = info["tokenizer"]["splitter"]
    assert splitter == document["tokenizer"]["splitter"]
    if document["tokenizer"]["punkt"] is not None:
        # Summarised as counts, not dumped.
        assert all(isinstance(n, int) for n in info["tokenizer"]["punkt"].values())


def test_info_table(trained_model: dict) -> None:
    result = runner.invoke(app, ["info", str(trained_model["checkpoint"])])
    assert result.exit_code == 0, result.output
    info = info_json(trained_model["checkpoint"])
    assert f"{info['model']['parameters']:,}" in result.stdout
    for label in ("model", "vocabulary", "tokenizer", "progress", "best val loss", "format"):
        assert label in result.stdout
    assert "document (each sentence after the text before it in its document)" in result.stdout


def test_info_refuses_a_file_that_is_not_a_checkpoint(trained_model: dict) -> None:
    result = runner.invoke(app, ["info", str(trained_model["valid"])])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:") and "Traceback" not in result.output
