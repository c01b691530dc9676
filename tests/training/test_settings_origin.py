"""Variables mean one thing: a variable set for training changes no other command, and training
says (and stores) where each setting came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.training import TINY
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.commands.evaluate import EvaluateConfig
from charlm.commands.generate import GenerateConfig
from charlm.commands.plot import PlotConfig
from charlm.options import env_names, resolve
from charlm.training.config import TrainConfig


@pytest.mark.parametrize(("cls", "flags", "name", "train_value", "own_variable"), [
    (GenerateConfig, {"model": "m.pt"}, "seed", "5", "CHARLM_GENERATE_SEED"),
    (EvaluateConfig, {"model": "m.pt", "files": ["a.txt"]}, "batch_size", "3",
     "CHARLM_EVALUATE_BATCH_SIZE"),
    (PlotConfig, {"metrics": ["m.jsonl"]}, "out", "run.pt", "CHARLM_PLOT_OUT"),
])
def test_a_training_variable_changes_no_other_command(
    cls: type, flags: dict, name: str, train_value: str, own_variable: str
) -> None:
    training_variable = "CHARLM_" + name.upper()
    assert training_variable in env_names(TrainConfig, name)
    untouched = resolve(cls, flags, {training_variable: train_value})
    assert getattr(untouched, name) == getattr(resolve(cls, flags, {}), name)
    own = resolve(cls, flags, {own_variable: train_value})
    assert str(getattr(own, name)) == train_value


def test_the_device_means_the_same_everywhere() -> None:
    assert resolve(GenerateConfig, {"model": "m.pt"}, {"CHARLM_DEVICE": "auto"}).device == "auto"
    assert resolve(TrainConfig, {"corpus": "c.txt"}, {"CHARLM_DEVICE": "cpu"}).device == "cpu"


def test_help_names_each_commands_own_variables() -> None:
    result = CliRunner().invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    assert "CHARLM_GENERATE_SEED" in result.output
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "CHARLM_SEED" in result.output
    for panel in ("Data", "Model", "Optimisation", "Run", "Output"):
        assert panel in result.output


def test_training_reports_and_stores_where_each_setting_came_from(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    result = CliRunner().invoke(
        app, ["train", str(corpus_file), "-o", str(out), "--epochs", "1", "--log-format", "json",
              *TINY, "--device", "cpu"],
        env={"CHARLM_LEARNING_RATE": "0.002", "NEPOCH": "7"},
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    [configuration] = [e["values"] for e in events if e.get("title") == "configuration"]
    assert configuration["epochs"] == "1 (--epochs)"
    assert configuration["learning_rate"] == "0.002 (CHARLM_LEARNING_RATE)"
    assert configuration["decay"] == "0.9 (default)"
    origins = load_checkpoint(out)["setting_origins"]
    assert origins["epochs"] == "--epochs"
    assert origins["learning_rate"] == "CHARLM_LEARNING_RATE"
    assert origins["decay"] == "default"

    resumed = CliRunner().invoke(app, ["train", str(corpus_file), "--resume", str(out),
                                       "--epochs", "2", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    origins = load_checkpoint(out)["setting_origins"]
    assert origins["epochs"] == "--epochs"
    assert origins["learning_rate"] == "checkpoint"
    assert origins["embedding_dim"] == "checkpoint"
