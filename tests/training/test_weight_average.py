"""--weight-average: reports, samples and checkpoints use a moving average of the weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import train_tiny_model
from typer.testing import CliRunner

from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.averaging import WARM_UP_STEPS, WeightAverage


def tiny_model() -> RNNLanguageModel:
    return RNNLanguageModel(ModelConfig(vocab_size=12, embedding_dim=4, hidden_dim=5))


def test_the_average_lengthens_from_a_short_warm_up_to_its_decay() -> None:
    model = tiny_model()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.0)
    average = WeightAverage(model, decay=0.9)
    expected = 0.0
    for step in range(1, 40):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(step))
        average.update(model)
        decay = min(0.9, step / (WARM_UP_STEPS + step))
        expected = decay * expected + (1 - decay) * step
        for p in average.model.parameters():
            assert torch.allclose(p, torch.full_like(p, expected))
    assert average.updates == 39
    # The trained model's own weights are untouched.
    assert all(torch.all(p == 39.0) for p in model.parameters())


def test_checkpoint_holds_the_average_as_its_model_and_the_last_weights_to_resume(
        tmp_path: Path) -> None:
    run = train_tiny_model(tmp_path, 2)
    checkpoint = read_checkpoint(run["checkpoint"])
    assert checkpoint.weight_average is not None
    assert checkpoint.weight_average["updates"] == checkpoint.progress["steps"]
    last = checkpoint.weight_average["training_weights"]
    assert last.keys() == checkpoint.model_state.keys()
    assert any(not torch.equal(last[name], checkpoint.model_state[name]) for name in last)


def test_zero_keeps_the_last_steps_weights(tmp_path: Path) -> None:
    run = train_tiny_model(tmp_path, 1, "--weight-average", "0")
    checkpoint = read_checkpoint(run["checkpoint"])
    assert checkpoint.weight_average is None
    assert checkpoint.train_config["weight_average"] == 0.0


def test_a_run_from_before_the_average_resumes_without_it(tmp_path: Path) -> None:
    run = train_tiny_model(tmp_path, 1, "--weight-average", "0")
    older = read_checkpoint(run["checkpoint"])
    # As an older charlm wrote it: no such setting.
    del older.train_config["weight_average"]
    del older.setting_origins["weight_average"]
    older.save(run["checkpoint"])

    result = CliRunner().invoke(app, ["train", "--resume", str(run["checkpoint"]),
                                      "--epochs", "2"])
    assert result.exit_code == 0, result.output
    resumed = read_checkpoint(run["checkpoint"])
    assert resumed.progress["epoch"] == 2
    assert resumed.train_config["weight_average"] == 0.0
    assert resumed.setting_origins["weight_average"] == "checkpoint"
    assert resumed.weight_average is None


@pytest.mark.parametrize("value", ["1", "-0.5"])
def test_a_decay_outside_0_to_below_1_is_refused(value: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "c.txt", "-o", str(tmp_path / "m.pt"),
                                      "--weight-average", value])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --weight-average: ")
    assert not (tmp_path / "m.pt").exists()
