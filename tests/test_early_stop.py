"""--early-stop N: the run ends when the validation loss has not improved for N reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from training import TINY, child_environment
from typer.testing import CliRunner

from charlm.cli import app

PATIENCE = 2
# A high learning rate, one report per epoch: the validation loss soon stops improving.
ARGS = [*TINY, "--print-every", "100000", "--learning-rate", "0.05", "--threads", "1",
        "--keep-best"]


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


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from corpora import write_corpus

    root = tmp_path_factory.mktemp("early-stop")
    corpus = write_corpus(root / "corpus.txt")
    out = root / "run.pt"
    result = invoke(["train", str(corpus), "-o", str(out), "--epochs", "40",
                     "--early-stop", str(PATIENCE), *ARGS])
    assert result.exit_code == 0, result.output
    return {"corpus": corpus, "out": out, "stdout": result.stdout, "metrics": metrics_of(out)}


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
