"""--lr-decay F --patience N: reduce the learning rate when validation stops improving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.schedule import PlateauSchedule


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def expected_lrs(losses: list[float], lr: float, factor: float, patience: int) -> list[float]:
    """The rule, written out independently: the lr in effect after each report."""
    best, bad, result = float("inf"), 0, []
    for loss in losses:
        if loss < best:
            best, bad = loss, 0
        else:
            bad += 1
            if bad == patience:
                lr, bad = lr * factor, 0
        result.append(lr)
    return result


def test_decays_after_patience_reports_without_improvement() -> None:
    opt = optimizer()
    schedule = PlateauSchedule(opt, factor=0.5, patience=2)
    losses = [3.0, 2.9, 2.95, 2.96, 2.97, 2.5, 2.6, 2.6, 2.4]
    lrs = []
    for loss in losses:
        schedule.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert lrs == expected_lrs(losses, 1.0, 0.5, 2)
    assert schedule.reductions == 2


def test_factor_one_never_decays() -> None:
    opt = optimizer(0.1)
    schedule = PlateauSchedule(opt, factor=1.0, patience=1)
    for loss in [1.0, 2.0, 3.0, 4.0]:
        assert not schedule.step(loss)
    assert opt.param_groups[0]["lr"] == 0.1


def test_state_round_trips() -> None:
    first = PlateauSchedule(optimizer(), factor=0.5, patience=3)
    for loss in [1.0, 1.1, 1.2]:
        first.step(loss)
    second = PlateauSchedule(optimizer(), factor=0.5, patience=3)
    second.load_state_dict(first.state_dict())
    assert second.step(1.3)  # the third report without improvement, counted across the load
    assert second.state_dict()["reductions"] == 1


def test_training_decays_the_learning_rate_and_records_it(tmp_path: Path) -> None:
    from corpora import write_corpus

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    # Validation text the model never sees a word of: as training sharpens the model on the
    # training words, the validation loss stops improving, so the schedule must act.
    valid = tmp_path / "valid.txt"
    valid.write_text("Zebras juggle quantum marmalade. Xylophones yodel.\n", encoding="utf-8")
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(corpus), "--valid", str(valid), "-o", str(out), "--epochs", "6",
        "--print-every", "100", "--lr-decay", "0.5", "--patience", "1", *TINY_MODEL,
    ])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in
               (tmp_path / "model.pt.metrics.jsonl").read_text().splitlines()]
    losses = [m["val_loss"] for m in metrics]
    start = metrics[0]["lr"]
    after = expected_lrs(losses, start, 0.5, 1)
    # Each report records the rate its interval trained with: the rate after the previous report.
    assert [m["lr"] for m in metrics] == pytest.approx([start, *after[:-1]])
    assert after[-1] < start, "the validation loss never stalled: the test proves nothing"
    assert "learning rate" in result.stdout
    document = load_checkpoint(out)
    state = document["lr_schedule"]
    assert state["reductions"] == sum(a < b for a, b in zip(after, [start, *after]))
    assert state["best"] == pytest.approx(min(losses))
    assert document["optimizer_state"]["param_groups"][0]["lr"] == pytest.approx(after[-1])


def test_resume_continues_the_schedule(tmp_path: Path) -> None:
    from corpora import write_corpus

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    valid = tmp_path / "valid.txt"
    valid.write_text("Zebras juggle quantum marmalade. Xylophones yodel.\n", encoding="utf-8")
    common = ["--valid", str(valid), "--print-every", "100", "--lr-decay", "0.5", "--patience",
              "1", *TINY_MODEL]
    runner = CliRunner()
    whole = tmp_path / "whole.pt"
    assert runner.invoke(app, ["train", str(corpus), "-o", str(whole), "--epochs", "4",
                               *common]).exit_code == 0
    parts = tmp_path / "parts.pt"
    assert runner.invoke(app, ["train", str(corpus), "-o", str(parts), "--epochs", "2",
                               *common]).exit_code == 0
    resumed = runner.invoke(app, ["train", str(corpus), "--resume", str(parts), "--epochs", "4"])
    assert resumed.exit_code == 0, resumed.output

    def lrs(path: Path) -> list[float]:
        lines = path.with_name(path.name + ".metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["lr"] for line in lines]

    assert lrs(parts) == lrs(whole)
    assert len(set(lrs(whole))) > 1  # the schedule did act, before and after the stop
    assert load_checkpoint(parts)["lr_schedule"] == load_checkpoint(whole)["lr_schedule"]
