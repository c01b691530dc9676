"""--tensorboard DIR: the reports that the console and metrics file receive, as events."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers.training import ROOT, TINY
from typer.testing import CliRunner

from charlm.cli import app

if TYPE_CHECKING:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Every test here needs the tensorboard extra, but the one that checks what charlm says without
# it.
pytestmark = pytest.mark.extra("tensorboard")
ARGS = [*TINY[:-2], "--samples", "2", "--print-every", "200", "--learning-rate", "0.01",
        "--quiet"]


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def events(directory: Path) -> EventAccumulator:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def metrics_of(checkpoint: Path) -> list[dict]:
    lines = Path(f"{checkpoint}.metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_reports_and_samples_become_events(corpus_file: Path, tmp_path: Path) -> None:
    from tensorboard.util.tensor_util import make_ndarray

    out, board = tmp_path / "m.pt", tmp_path / "board"
    result = invoke(["train", str(corpus_file), "-o", str(out), "--epochs", "2",
                     "--tensorboard", str(board), *ARGS])
    assert result.exit_code == 0, result.output
    metrics = metrics_of(out)
    accumulator = events(board)
    steps = [m["tokens"] for m in metrics]
    for key, tag in [("train_loss", "loss/train"), ("val_loss", "loss/validation"),
                     ("val_ppl", "perplexity/validation"), ("lr", "learning_rate"),
                     ("tokens_per_s", "tokens_per_s")]:
        logged = scalars(accumulator, tag)
        assert [step for step, _ in logged] == steps, tag
        assert [value for _, value in logged] == pytest.approx([m[key] for m in metrics],
                                                               rel=1e-6), tag
    assert [v for _, v in scalars(accumulator, "perplexity/train")] == pytest.approx(
        [math.exp(m["train_loss"]) for m in metrics], rel=1e-6)
    # The samples the console printed, one text event per report.
    printed = [line.removeprefix("  sample: ") for line in result.stdout.splitlines()
               if line.startswith("  sample: ")]
    texts = accumulator.Tensors("samples/text_summary")
    assert [t.step for t in texts] == steps
    logged_samples = [line.removeprefix("- ") for t in texts
                      for line in make_ndarray(t.tensor_proto).item().decode().splitlines()]
    assert logged_samples == printed and len(printed) == 2 * len(metrics)


def test_a_resumed_run_continues_the_same_events(corpus_file: Path, tmp_path: Path) -> None:
    out, board = tmp_path / "m.pt", tmp_path / "board"
    first = invoke(["train", str(corpus_file), "-o", str(out), "--epochs", "1",
                    "--tensorboard", str(board), *ARGS])
    assert first.exit_code == 0, first.output
    # The directory is the checkpoint's setting: a resumed run writes there without being told.
    resumed = invoke(["train", "--resume", str(out), "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    logged = scalars(events(board), "loss/validation")
    assert logged == [(m["tokens"], pytest.approx(m["val_loss"], rel=1e-6))
                      for m in metrics_of(out)]


def test_a_file_is_no_directory(corpus_file: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    out = tmp_path / "m.pt"
    result = invoke(["train", str(corpus_file), "-o", str(out), "--tensorboard", str(a_file)])
    assert result.exit_code == 1 and not out.exists()
    assert result.stderr.strip() == (f"Error: --tensorboard {a_file} is a file, not a "
                                     "directory; choose another directory")


@pytest.mark.extra()
def test_without_the_extra_it_says_how_to_install_it(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    # As on an install without the extra.
    program = ("import sys; sys.modules['tensorboard'] = None; from charlm.cli import main; "
               f"sys.argv = ['charlm', 'train', {str(corpus_file)!r}, '-o', {str(out)!r}, "
               f"'--tensorboard', {str(tmp_path / 'board')!r}]; main()")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == ("Error: --tensorboard needs the tensorboard package: "
                                   "pip install 'charlm-rnn[tensorboard]' (from a checkout: "
                                   "pip install -e '.[tensorboard]')")
    assert not out.exists() and not (tmp_path / "board").exists()
