"""--early-stop N: the run ends when the validation loss has not improved for N reports."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.training import TINY, child_environment
from typer.testing import CliRunner

from charlm.cli import app

PATIENCE = 2
# A high learning rate, one report per epoch: the validation loss soon stops improving.
RATE = ["--learning-rate", "0.05", "--threads", "1", "--keep-best"]
ARGS = [*TINY, "--print-every", "100000", *RATE]


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, args, env=env)


def metrics_of(checkpoint: Path) -> list[dict]:
    lines = Path(f"{checkpoint}.metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def expected_stop(losses: list[float], patience: int) -> int:
    """The report (counted from 0) after which `patience` reports in a row were no better than
    the best before them."""
    for report in range(patience, len(losses)):
        best = min(losses[: report - patience + 1])
        if all(loss >= best for loss in losses[report - patience + 1 : report + 1]):
            return report
    raise AssertionError(f"the validation loss kept improving: {losses}")


def stop_after_resume(losses: list[float], patience: int, resumed_at: int) -> int:
    """The report (counted from 0) at which a run resumed before report `resumed_at` with its
    count of reports without improvement at 0 reaches `patience` again."""
    best, count = min(losses[:resumed_at], default=math.inf), 0
    for report in range(resumed_at, len(losses)):
        count = 0 if losses[report] < best else count + 1
        best = min(best, losses[report])
        if count >= patience:
            return report
    raise AssertionError(f"the resumed run stopped before its patience was spent: {losses}")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from helpers.corpora import write_corpus

    root = tmp_path_factory.mktemp("early-stop")
    corpus = write_corpus(root / "corpus.txt")
    out = root / "run.pt"
    result = invoke(["train", str(corpus), "-o", str(out), "--epochs", "40",
                     "--early-stop", str(PATIENCE), *ARGS])
    assert result.exit_code == 0, result.output
    return {"corpus": corpus, "out": out, "stdout": result.stdout, "metrics": metrics_of(out)}


@pytest.fixture(scope="module")
def noisy_run(stopped_run: dict[str, Any]) -> dict[str, Any]:
    """Stopped early on the last step's weights, not their average: a loss noisy enough that
    the report after the stop does not improve either."""
    out = stopped_run["out"].with_name("noisy.pt")
    result = invoke(["train", str(stopped_run["corpus"]), "-o", str(out), "--epochs", "40",
                     "--early-stop", str(PATIENCE), "--weight-average", "0", *ARGS])
    assert "stopped early" in result.stdout, result.output
    return {"corpus": stopped_run["corpus"], "out": out, "metrics": metrics_of(out)}


def test_the_run_stops_when_the_loss_stops_improving(stopped_run: dict) -> None:
    metrics = stopped_run["metrics"]
    losses = [m["val_loss"] for m in metrics]
    assert len(metrics) == expected_stop(losses, PATIENCE) + 1
    assert metrics[-1]["epoch"] < 40
    # The metrics file and the checkpoint say why the run ended.
    assert metrics[-1]["stopped"] == "early-stop"
    assert all("stopped" not in m for m in metrics[:-1])
    checkpoint = torch.load(stopped_run["out"], weights_only=True)
    assert checkpoint["progress"]["stopped"] == "early-stop"
    # One line says so, and names the best checkpoint, which holds the best validation loss.
    best = stopped_run["out"].with_name("run.best.pt")
    said = [line for line in stopped_run["stdout"].splitlines() if "stopped early" in line]
    assert len(said) == 1
    assert said[0].endswith(f"use the best checkpoint {best}")
    best_progress = torch.load(best, weights_only=True)["progress"]
    assert best_progress["best_val_loss"] == min(losses)
    assert best_progress["reports"] == losses.index(min(losses)) + 1


def test_early_stop_continues_across_resume(stopped_run: dict, tmp_path: Path) -> None:
    """Stopped one report before the early stop, then resumed: it stops where the uninterrupted
    run stopped, because the count of reports without improvement was saved."""
    whole = stopped_run["metrics"]
    out = tmp_path / "parts.pt"
    first = invoke(["train", str(stopped_run["corpus"]), "-o", str(out), "--epochs",
                    str(whole[-2]["epoch"]), *ARGS], env={"CHARLM_EARLY_STOP": str(PATIENCE)})
    assert first.exit_code == 0, first.output
    assert "stopped early" not in first.stdout
    assert torch.load(out, weights_only=True)["progress"]["reports_without_improvement"] > 0
    resumed = invoke(["train", "--resume", str(out), "--epochs", "40"])
    assert resumed.exit_code == 0, resumed.output
    assert "stopped early" in resumed.stdout
    assert [m["val_loss"] for m in metrics_of(out)] == [m["val_loss"] for m in whole]
    assert metrics_of(out)[-1]["stopped"] == "early-stop"
    parts, uninterrupted = (torch.load(p, weights_only=True)["model_state"]
                            for p in (out, stopped_run["out"]))
    assert all(torch.equal(parts[name], uninterrupted[name]) for name in uninterrupted)


def run_files(out: Path) -> list[Path]:
    return [out, out.with_name(f"{out.stem}.best.pt"), Path(f"{out}.metrics.jsonl")]


def copy_of(run: dict[str, Any], directory: Path) -> Path:
    """The stopped run's files copied into `directory`, to resume there."""
    for path in run_files(run["out"]):
        shutil.copy(path, directory / path.name)
    return directory / run["out"].name


def files_of(out: Path) -> list[bytes]:
    return [path.read_bytes() for path in run_files(out)]


def test_the_same_command_again_has_nothing_to_do_and_says_so(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run.pt"
    # Reports every 100 sentences: the run stops in the middle of an epoch.
    job = ["train", str(corpus_file), "-o", str(out), "--epochs", "40", "--early-stop",
           str(PATIENCE), *TINY, "--print-every", "100", *RATE]
    first = invoke([*job, "--resume", "auto"])
    assert first.exit_code == 0, first.output
    progress = torch.load(out, weights_only=True)["progress"]
    assert progress["batch_in_epoch"] > 0
    [said] = [line for line in first.stdout.splitlines() if "stopped early" in line]
    stopped_early = said[: said.index("); ") + 1]
    # Both lines name the epoch the run was in, as its last report does.
    epoch = progress["epoch"] + 1
    assert progress["metrics"][-1]["epoch"] == epoch
    assert stopped_early.startswith(f"stopped early at epoch {epoch} of 40: ")
    before = files_of(out)
    # A requeued batch job runs the same command again: --resume auto, or --resume of its file.
    for resume in ("auto", str(out)):
        again = invoke([*job, "--resume", resume])
        assert again.exit_code == 0, again.output
        assert again.output.strip() == (
            f"{out}: {stopped_early}; nothing to do; to train on, pass --early-stop above "
            f"{PATIENCE} (or 0) or --epochs above 40")
        assert files_of(out) == before


def test_more_patience_trains_on_as_a_run_given_it_from_the_start(
    noisy_run: dict, tmp_path: Path
) -> None:
    out = copy_of(noisy_run, tmp_path)
    resumed = invoke(["train", "--resume", str(out), "--early-stop", str(PATIENCE + 1)])
    assert resumed.exit_code == 0, resumed.output
    whole = tmp_path / "whole.pt"
    result = invoke(["train", str(noisy_run["corpus"]), "-o", str(whole), "--epochs", "40",
                     "--early-stop", str(PATIENCE + 1), "--weight-average", "0", *ARGS])
    assert result.exit_code == 0, result.output
    # The count of reports without improvement went on: the run stops where one given that
    # patience from the start stopped, on the same weights.
    losses = [m["val_loss"] for m in metrics_of(out)]
    assert len(losses) > len(noisy_run["metrics"])
    assert losses == [m["val_loss"] for m in metrics_of(whole)]
    parts, uninterrupted = (torch.load(p, weights_only=True)["model_state"] for p in (out, whole))
    assert all(torch.equal(parts[name], uninterrupted[name]) for name in uninterrupted)


def test_more_epochs_at_the_same_patience_give_it_new_reports(
    noisy_run: dict, tmp_path: Path
) -> None:
    out = copy_of(noisy_run, tmp_path)
    resumed = invoke(["train", "--resume", str(out), "--epochs", "41"])
    assert resumed.exit_code == 0, resumed.output
    assert "stopped early" in resumed.stdout
    losses = [m["val_loss"] for m in metrics_of(out)]
    resumed_at = len(noisy_run["metrics"])
    # The case that proves it: a count that went on from where it stopped would have ended the
    # run at the first report after the resume.
    assert losses[resumed_at] >= min(losses[:resumed_at])
    assert len(losses) == stop_after_resume(losses, PATIENCE, resumed_at) + 1
    assert len(losses) >= resumed_at + PATIENCE


def test_no_early_stop_trains_on_to_the_epochs_asked(stopped_run: dict, tmp_path: Path) -> None:
    out = copy_of(stopped_run, tmp_path)
    epoch = stopped_run["metrics"][-1]["epoch"]
    resumed = invoke(["train", "--resume", str(out), "--early-stop", "0", "--epochs",
                      str(epoch + 1)])
    assert resumed.exit_code == 0, resumed.output
    assert "stopped early" not in resumed.stdout
    progress = torch.load(out, weights_only=True)["progress"]
    assert progress["epoch"] == epoch + 1 and progress["stopped"] is None


def test_without_keep_best_the_message_names_the_last_checkpoint(tmp_path: Path,
                                                                  corpus_file: Path) -> None:
    out = tmp_path / "m.pt"
    result = invoke(["train", str(corpus_file), "-o", str(out), "--epochs", "40",
                     "--early-stop", "1", *ARGS[:-1], "--log-format", "json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    messages = [e["text"] for e in events if e["event"] == "message" and "stopped" in e["text"]]
    assert len(messages) == 1
    assert messages[0].endswith(f"saved the last checkpoint {out} (--keep-best also keeps the "
                                "best one)")
    assert [e for e in events if e["event"] == "report"][-1]["stopped"] == "early-stop"


def test_bad_value_is_refused(corpus_file: Path, tmp_path: Path) -> None:
    result = invoke(["train", str(corpus_file), "-o", str(tmp_path / "m.pt"),
                     "--early-stop", "-1"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --early-stop: -1 is too small; it must be at least 0"


@pytest.mark.slow
def test_every_torchrun_rank_stops_at_the_same_step(tmp_path: Path, corpus_file: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "ranked.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={port}", "-m", "charlm", "train", str(corpus_file), "-o",
               str(out), "--epochs", "60", "--early-stop", "1", *ARGS]
    done = subprocess.run(command, env=child_environment(), capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("stopped early") == 1
    metrics = metrics_of(out)
    assert metrics[-1]["stopped"] == "early-stop" and metrics[-1]["epoch"] < 60
