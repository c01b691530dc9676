"""A model can memorise a tiny corpus: the loss collapses and greedy decoding recites it."""

import json
from pathlib import Path

from typer.testing import CliRunner

from charlm.cli import app

FAVOURITE = "The little grey cat sat quietly on the warm kitchen mat."
OTHER = "Every morning a tall man walked his dog along the river."


def test_loss_collapses_and_greedy_generation_recites_a_training_sentence(tmp_path: Path) -> None:
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("\n\n".join([FAVOURITE] * 30 + [OTHER] * 10) + "\n")
    out = tmp_path / "tiny.pt"
    runner = CliRunner()
    trained = runner.invoke(app, [
        "train", str(corpus), "--out", str(out), "--epochs", "40", "--batch-size", "8",
        "--learning-rate", "0.01", "--embedding-dim", "16", "--hidden-dim", "32",
        "--samples", "0", "--valid-fraction", "0.1", "--context", "sentence",
    ])
    assert trained.exit_code == 0, trained.output
    reports = [json.loads(line) for line in Path(f"{out}.metrics.jsonl").read_text().splitlines()]
    assert reports[0]["train_loss"] > 10 * reports[-1]["train_loss"]
    assert reports[-1]["val_loss"] < 0.5

    generated = runner.invoke(app, ["generate", str(out), "--greedy", "--count", "1"])
    assert generated.exit_code == 0, generated.output
    assert generated.stdout.strip() == FAVOURITE
