"""Resuming a run continues it exactly, and refuses what cannot continue."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.resuming import (
    SignalAfter,
    assert_same_state,
    metric_lines,
    one_epoch,
    uninterrupted,
)
from helpers.training import config_of, quiet_reporter, tiny_flags
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.cli import app
from charlm.errors import CharlmError, ConfigError
from charlm.training.loop import run_training
from charlm.training.signals import Interrupted

__all__ = ["one_epoch", "uninterrupted"]  # the fixtures, shared in helpers.resuming


def test_resume_after_an_epoch_matches_an_uninterrupted_run(
    corpus_file: Path, tmp_path: Path
) -> None:
    # Sentence context, where a report falls on each epoch's end (see `uninterrupted`).
    whole, out = tmp_path / "whole.pt", tmp_path / "parts.pt"
    flags = tiny_flags(corpus=str(corpus_file), print_every=95, context="sentence")
    run_training(config_of(**flags, out=str(whole), epochs=2), quiet_reporter())
    run_training(config_of(**flags, out=str(out), epochs=1), quiet_reporter())
    assert load_checkpoint(out)["progress"]["epoch"] == 1
    # Only the new length is given: every other setting comes from the checkpoint.
    run_training(config_of(corpus=str(corpus_file), resume=str(out), epochs=2), quiet_reporter())
    assert_same_state(whole, out)
    assert metric_lines(out) == metric_lines(whole)


def test_resume_mid_epoch_after_an_interrupt_matches_an_uninterrupted_run(
    corpus_file: Path, tmp_path: Path, uninterrupted: Path
) -> None:
    out = tmp_path / "stopped.pt"
    flags = tiny_flags(corpus=str(corpus_file), out=str(out), epochs=2, print_every=95)
    # 150 sentences into the second epoch: between two reports, in the middle of the epoch.
    with pytest.raises(Interrupted) as stopped:
        run_training(config_of(**flags), SignalAfter(150))
    assert stopped.value.exit_code == 130
    assert f"--resume {out}" in str(stopped.value)
    progress = load_checkpoint(out)["progress"]
    assert progress["epoch"] == 0 and progress["batch_in_epoch"] > 0
    run_training(config_of(corpus=str(corpus_file), resume=str(out)), quiet_reporter())
    assert_same_state(uninterrupted, out)
    assert metric_lines(out) == metric_lines(uninterrupted)


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("hidden_dim", 32, "--hidden-dim is 32 here but 16"),
        ("vocabulary_size", 40, "--vocabulary-size is 40 here but 50"),
        ("cell", "lstm", "--cell is 'lstm' here but 'gru'"),
        ("seed", 9, "--seed is 9 here but 1234"),
        ("batch_size", 8, "--batch-size is 8 here but 16"),
        ("lowercase", False, "--lowercase is False here but True"),
    ],
)
def test_resume_refuses_settings_that_cannot_continue(
    one_epoch: Path, corpus_file: Path, flag: str, value: object, named: str
) -> None:
    before = one_epoch.read_bytes()
    with pytest.raises(ConfigError, match=named):
        run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2,
                               **{flag: value}), quiet_reporter())
    assert one_epoch.read_bytes() == before


def test_resume_refuses_every_other_reading_of_the_corpus(one_epoch: Path,
                                                          corpus_file: Path) -> None:
    """The resumed corpus is read with the checkpoint's tokenizer, so a setting of how to read
    it that differs would be recorded but not used: each is refused, named."""
    before = one_epoch.read_bytes()
    with pytest.raises(ConfigError) as refused:
        run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2,
                               split="lines", words="whitespace", max_sentence_words=50,
                               context="sentence", text_column="body", min_chars=3,
                               drop_urls=False), quiet_reporter())
    for named in ("--split is 'lines' here but 'auto'", "--words is 'whitespace' here but 'nltk'",
                  "--max-sentence-words is 50 here but 200",
                  "--context is 'sentence' here but 'document'",
                  "--text-column is 'body' here but None", "--min-chars is 3 here but 1",
                  "--drop-urls is False here but True"):
        assert named in str(refused.value)
    assert one_epoch.read_bytes() == before


def test_resume_of_a_checkpoint_from_before_split_refuses_another_split(
    one_epoch: Path, corpus_file: Path
) -> None:
    """Before --split existed every corpus was read as paragraphs, as its tokenizer says."""
    older = load_checkpoint(one_epoch)
    del older["train_config"]["split"]
    save_checkpoint(older, one_epoch)
    before = one_epoch.read_bytes()
    with pytest.raises(ConfigError, match="--split is 'lines' here but 'paragraphs'"):
        run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2,
                               split="lines"), quiet_reporter())
    assert one_epoch.read_bytes() == before
    run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2),
                 quiet_reporter())
    assert load_checkpoint(one_epoch)["train_config"]["split"] == "paragraphs"


def test_resume_refuses_another_corpus(one_epoch: Path, tmp_path: Path) -> None:
    from helpers.corpora import write_corpus

    other = write_corpus(tmp_path / "other.txt", seed=5)
    with pytest.raises(CharlmError, match="not the corpus it was trained on"):
        run_training(config_of(corpus=str(other), resume=str(one_epoch), epochs=2),
                     quiet_reporter())


def test_resume_allows_changing_epochs_reports_and_learning_rate(
    one_epoch: Path, corpus_file: Path
) -> None:
    # The settings that do not decide the data or the model may change, given again or not.
    run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2, print_every=50,
                           learning_rate=0.002, hidden_dim=16), quiet_reporter())
    document = load_checkpoint(one_epoch)
    assert document["progress"]["epoch"] == 2
    assert document["optimizer_state"]["param_groups"][0]["lr"] == 0.002
    assert len(metric_lines(one_epoch)) == len(document["progress"]["metrics"]) > 2


def test_resume_takes_the_corpus_path_from_the_checkpoint(one_epoch: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--resume", str(one_epoch), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 2


def test_resume_with_fewer_epochs_than_done_says_to_raise_epochs(
    one_epoch: Path, corpus_file: Path
) -> None:
    run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2),
                 quiet_reporter())
    before = one_epoch.read_bytes()
    result = CliRunner().invoke(app, ["train", "--resume", str(one_epoch), "--epochs", "1"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {one_epoch} has already trained 2 epochs, more "
                                     "than --epochs 1; pass a larger --epochs to train further")
    assert one_epoch.read_bytes() == before
