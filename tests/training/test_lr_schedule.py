"""--lr-schedule with --lr-decay: plateau (--patience N: reduce the learning rate when validation
stops falling), epochs (--lr-keep-epochs E: Zaremba et al.'s) and best (the word_language_model
example's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.options import origins_of
from charlm.training.schedule import (
    LR_SCHEDULES,
    BestSchedule,
    EpochSchedule,
    PlateauSchedule,
    build_schedule,
)


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def expected_lrs(losses: list[float], lr: float, factor: float, patience: int) -> list[float]:
    """The rule, written out independently: the lr in effect after each report. The rate decays
    when the last `patience` losses at this rate average no lower than the `patience` before."""
    at_rate: list[float] = []
    result = []
    for loss in losses:
        at_rate.append(loss)
        if len(at_rate) >= 2 * patience:
            recent = at_rate[len(at_rate) - patience:]
            before = at_rate[len(at_rate) - 2 * patience:len(at_rate) - patience]
            if sum(recent) / patience >= sum(before) / patience:
                lr, at_rate = lr * factor, []
        result.append(lr)
    return result


def test_decays_when_the_mean_loss_stops_falling_not_on_one_bad_report() -> None:
    opt = optimizer()
    schedule = PlateauSchedule(opt, factor=0.5, patience=2)
    # Falling with noise: a report worse than the one before does not decay the rate ...
    losses = [3.0, 2.8, 2.9, 2.6, 2.7, 2.5, 2.55, 2.5,
              # ... a flat stretch does, and the windows then start again at the new rate.
              2.56, 2.4, 2.45, 2.45, 2.5, 2.3]
    lrs = []
    for loss in losses:
        schedule.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0] * 8 + [0.5] * 4 + [0.25] * 2
    assert lrs == expected_lrs(losses, 1.0, 0.5, 2)
    assert schedule.reductions == 2
    assert schedule.best == 2.3


def test_factor_one_never_decays() -> None:
    opt = optimizer(0.1)
    schedule = PlateauSchedule(opt, factor=1.0, patience=1)
    for loss in [1.0, 2.0, 3.0, 4.0]:
        assert not schedule.step(loss)
    assert opt.param_groups[0]["lr"] == 0.1


def test_state_round_trips() -> None:
    first = PlateauSchedule(optimizer(), factor=0.5, patience=2)
    for loss in [1.0, 0.9, 0.95]:
        first.step(loss)
    second = PlateauSchedule(optimizer(), factor=0.5, patience=2)
    second.load_state_dict(first.state_dict())
    assert second.step(0.96)  # the fourth report at this rate, its windows counted across the load
    assert second.state_dict()["reductions"] == 1


def test_training_decays_the_learning_rate_and_records_it(tmp_path: Path) -> None:
    from helpers.corpora import write_corpus

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    # Validation text the model never sees a word of: as training sharpens the model on the
    # training words, the validation loss stops improving, so the schedule must act.
    valid = tmp_path / "valid.txt"
    valid.write_text("Zebras juggle quantum marmalade. Xylophones yodel.\n", encoding="utf-8")
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(corpus), "--valid", str(valid), "-o", str(out), "--epochs", "6",
        "--print-every", "100", "--lr-decay", "0.5", "--patience", "1", *TINY_MODEL,
        "--context", "sentence",
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
    from helpers.corpora import write_corpus

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    valid = tmp_path / "valid.txt"
    valid.write_text("Zebras juggle quantum marmalade. Xylophones yodel.\n", encoding="utf-8")
    common = ["--valid", str(valid), "--print-every", "100", "--lr-decay", "0.5", "--patience",
              "1", *TINY_MODEL, "--context", "sentence"]
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


def test_tutorial_schedule_restores_the_tutorials_rate_and_batches(tmp_path: Path) -> None:
    from helpers.corpora import write_corpus
    from helpers.training import config_of

    tutorial = config_of(corpus="c.txt", tutorial_schedule=True)
    assert (tutorial.learning_rate, tutorial.lr_decay, tutorial.batch_size,
            tutorial.weight_average) == (0.001, 1.0, 64, 0.0)
    assert origins_of(tutorial)["learning_rate"] == "recipe tutorial"
    # A setting given explicitly still wins over the switch.
    mixed = config_of(corpus="c.txt", tutorial_schedule=True, learning_rate=0.003)
    assert (mixed.learning_rate, mixed.batch_size) == (0.003, 64)
    assert origins_of(mixed)["learning_rate"] == "--learning-rate"

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(corpus), "-o", str(out), "--epochs", "1", "--embedding-dim", "8",
        "--hidden-dim", "16", "--vocabulary-size", "50", "--samples", "0",
    ], env={"CHARLM_TUTORIAL_SCHEDULE": "1"})
    assert result.exit_code == 0, result.output
    document = load_checkpoint(out)
    assert document["train_config"]["batch_size"] == 64
    assert document["optimizer_state"]["param_groups"][0]["lr"] == 0.001
    assert document["setting_origins"]["batch_size"] == "recipe tutorial"
    assert document["setting_origins"]["recipe"] == "CHARLM_TUTORIAL_SCHEDULE"
    # The tutorial's model is the last step's weights.
    assert "weight_average" not in document


def expected_epoch_lrs(epochs: int, lr: float, factor: float, keep: int) -> list[float]:
    """Zaremba et al.'s rule, written out: epoch k (from 1) at lr × factor^max(0, k − keep)."""
    return [lr * factor ** max(0, k - keep) for k in range(1, epochs + 1)]


def test_the_epochs_schedule_keeps_the_rate_then_multiplies_it_at_each_epochs_start() -> None:
    opt = optimizer()
    schedule = EpochSchedule(opt, factor=0.5, keep_epochs=2)
    lrs = []
    for epoch in range(6):
        decayed = schedule.epoch_started(epoch)
        assert bool(decayed) == (epoch >= 2)
        # An epoch resumed in its middle starts again: its rate was decayed already.
        assert not schedule.epoch_started(epoch)
        lrs.append(opt.param_groups[0]["lr"])
        assert schedule.step(0.1) is None  # reports do not change it
    assert lrs == [1.0, 1.0, 0.5, 0.25, 0.125, 0.0625] == expected_epoch_lrs(6, 1.0, 0.5, 2)
    resumed = EpochSchedule(optimizer(0.0625), factor=0.5, keep_epochs=2)
    resumed.load_state_dict(schedule.state_dict())
    assert not resumed.epoch_started(5) and resumed.epoch_started(6)
    assert resumed.reductions == 5


def test_the_epochs_schedule_with_no_epochs_kept_decays_from_the_first() -> None:
    opt = optimizer()
    schedule = EpochSchedule(opt, factor=0.5, keep_epochs=0)
    schedule.epoch_started(0)
    assert opt.param_groups[0]["lr"] == 0.5 == expected_epoch_lrs(1, 1.0, 0.5, 0)[0]


def expected_best_lrs(losses: list[float], lr: float, factor: float) -> list[float]:
    """The word_language_model example's rule, written out: the lr in effect after each report,
    multiplied whenever the report's loss is not better than the best before it."""
    best, result = float("inf"), []
    for loss in losses:
        if loss < best:
            best = loss
        else:
            lr *= factor
        result.append(lr)
    return result


def test_the_best_schedule_decays_at_every_report_no_better_than_the_best() -> None:
    opt = optimizer()
    schedule = BestSchedule(opt, factor=0.25)
    # 2.9 is worse than the report before it and than the best: decayed; 2.85 is worse than the
    # best (2.8) but better than the report before it: decayed too (plateau with patience 1
    # would not); an equal loss is not better.
    losses = [3.0, 2.8, 2.9, 2.85, 2.7, 2.7, 2.6]
    lrs = []
    for loss in losses:
        schedule.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.25, 0.0625, 0.0625, 0.015625, 0.015625]
    assert lrs == expected_best_lrs(losses, 1.0, 0.25)
    plateau = PlateauSchedule(optimizer(), factor=0.25, patience=1)
    assert [bool(plateau.step(loss)) for loss in losses[:4]] == [False, False, True, False]
    resumed = BestSchedule(optimizer(), factor=0.25)
    resumed.load_state_dict(schedule.state_dict())
    assert resumed.step(2.65) and not resumed.step(2.5)


def test_every_schedule_is_built_with_the_settings_it_takes() -> None:
    settings = {"lr_decay": 0.5, "patience": 3, "lr_keep_epochs": 4}
    for name, schedule_class in LR_SCHEDULES.items():
        schedule = build_schedule(name, optimizer(), settings)
        assert isinstance(schedule, schedule_class)
        assert schedule.factor == 0.5
    assert build_schedule("plateau", optimizer(), settings).patience == 3  # type: ignore[attr-defined]
    assert build_schedule("epochs", optimizer(), settings).keep_epochs == 4  # type: ignore[attr-defined]


def lrs_of(path: Path) -> list[float]:
    lines = path.with_name(path.name + ".metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["lr"] for line in lines]


def test_training_keeps_the_rate_then_decays_it_each_epoch(tmp_path: Path) -> None:
    from helpers.corpora import write_corpus

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    out = tmp_path / "model.pt"
    # --print-every above an epoch's sentences: one report an epoch, at its end.
    result = CliRunner().invoke(app, [
        "train", str(corpus), "-o", str(out), "--epochs", "3", "--print-every", "100000",
        "--lr-schedule", "epochs", "--lr-keep-epochs", "1", "--lr-decay", "0.5",
        "--learning-rate", "0.004", *TINY_MODEL[:-2], "--context", "sentence"])
    assert result.exit_code == 0, result.output
    assert lrs_of(out) == pytest.approx(expected_epoch_lrs(3, 0.004, 0.5, 1))
    assert "epoch 2 starts, past the first 1 (--lr-keep-epochs): learning rate 0.004 -> 0.002" \
        in result.stdout
    assert load_checkpoint(out)["lr_schedule"]["reductions"] == 2


def test_training_decays_the_rate_at_each_report_no_better_than_the_best(tmp_path: Path) -> None:
    from helpers.corpora import write_corpus

    corpus = write_corpus(tmp_path / "train.txt", sentences=200)
    valid = tmp_path / "valid.txt"
    valid.write_text("Zebras juggle quantum marmalade. Xylophones yodel.\n", encoding="utf-8")
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(corpus), "--valid", str(valid), "-o", str(out), "--epochs", "3",
        "--print-every", "100", "--lr-schedule", "best", "--lr-decay", "0.25", *TINY_MODEL,
        "--context", "sentence"])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in
               (tmp_path / "model.pt.metrics.jsonl").read_text().splitlines()]
    losses = [m["val_loss"] for m in metrics]
    start = metrics[0]["lr"]
    after = expected_best_lrs(losses, start, 0.25)
    assert lrs_of(out) == pytest.approx([start, *after[:-1]])
    assert after[-1] < start, "no report was worse than the best: the test proves nothing"
    assert "not below the best so far" in result.stdout
