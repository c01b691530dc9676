"""Training output: rich panels at a terminal, plain lines with --quiet, JSON lines with
--json (never a progress bar)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from charlm.cli import app
from charlm.options import resolve
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter
from charlm.training.loop import run_training

METRICS = {"epoch": 1, "examples": 10, "tokens": 100, "train_loss": 3.0, "val_loss": 2.5,
           "val_ppl": 12.18, "tokens_per_s": 1000.0, "lr": 0.001}


def terminal() -> Console:
    """A console that behaves as a terminal, so rich widgets would be drawn."""
    return Console(file=io.StringIO(), force_terminal=True, width=100)


def tiny_config(corpus: Path, out: Path, **extra: object) -> TrainConfig:
    flags = {"corpus": str(corpus), "out": str(out), "embedding_dim": 8, "hidden_dim": 16,
             "vocabulary_size": 50, "epochs": 1, "print_every": 150, "samples": 2, **extra}
    return resolve(TrainConfig, flags, {})


def test_json_lines_even_at_a_terminal(corpus_file: Path, tmp_path: Path) -> None:
    console = terminal()
    reporter = Reporter(console, log_format="json")
    # The progress-line interval is made zero so progress events would appear if any were drawn.
    reporter._last_plain = -1e9
    run_training(tiny_config(corpus_file, tmp_path / "m.pt"), reporter)
    lines = console.file.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    events = [r["event"] for r in records]
    assert {"settings", "message", "progress", "report", "samples", "saved"} <= set(events)
    reports = [r for r in records if r["event"] == "report"]
    metrics = [json.loads(line) for line in (tmp_path / "m.pt.metrics.jsonl").read_text()
               .splitlines()]
    assert [{k: v for k, v in r.items() if k != "event"} for r in reports] == metrics
    samples = [r for r in records if r["event"] == "samples"]
    assert all(len(s["samples"]) == 2 for s in samples)
    assert "\x1b[" not in console.file.getvalue()  # no terminal control codes, no progress bar


def test_json_lines_from_the_command_line(corpus_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "train", str(corpus_file), "-o", str(tmp_path / "m.pt"), "--json",
        "--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50", "--epochs",
        "1", "--samples", "1",
    ])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    events = [record["event"] for record in records]
    assert events[-2:] == ["saved", "message"] and "report" in events
    assert records[-1]["text"].startswith("best validation perplexity")


def test_samples_in_a_panel_at_a_terminal() -> None:
    console = terminal()
    reporter = Reporter(console)
    reporter.report(METRICS)
    reporter.samples(["The first sentence.", "The second one."])
    text = console.file.getvalue()
    assert "samples" in text and "╭" in text and "The second one." in text


def test_quiet_and_plain_output_print_plain_lines() -> None:
    for reporter, console in [(Reporter(c := terminal(), quiet=True), c),
                              (Reporter(c2 := Console(file=io.StringIO(), width=100)), c2)]:
        reporter.start_epoch(1, 1, 100, 0)
        reporter.advance(50, 3.0, 1000.0)
        reporter.report(METRICS)
        reporter.samples(["The first sentence.", "The second one."])
        reporter.saved("m.pt")
        reporter.stop_progress()
        text = console.file.getvalue()
        assert "╭" not in text and "━" not in text
        assert "  sample: The first sentence.\n  sample: The second one.\n" in text
        assert "saved checkpoint m.pt" in text


def test_quiet_prints_no_progress_lines() -> None:
    console = Console(file=io.StringIO(), width=100)
    reporter = Reporter(console, quiet=True)
    reporter.start_epoch(1, 1, 100, 0)
    reporter.advance(50, 3.0, 1000.0)
    assert console.file.getvalue() == ""


def test_progress_bar_returns_after_a_mid_epoch_report() -> None:
    console = terminal()
    reporter = Reporter(console)
    reporter.start_epoch(1, 1, 100, 0)
    reporter.advance(40, 3.0, 1000.0)
    reporter.report(METRICS)
    reporter.advance(60, 3.0, 1000.0)
    assert reporter._progress is not None  # a bar again, not plain progress lines
    reporter.stop_progress()
    assert "sentences 60/100" not in console.file.getvalue()
