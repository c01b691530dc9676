"""Every bad input gets one line that says what to do, a non-zero exit, no traceback, and
leaves every existing file as it was (the table of docs/bad-input.md)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.corpora import write_corpus
from helpers.training import TINY, config_of, one_error_line, quiet_reporter, tiny_flags
from typer.testing import CliRunner

from charlm.checkpoint.files import save_checkpoint
from charlm.cli import app
from charlm.training.loop import run_training


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, args, env=env)



@pytest.fixture
def existing(tmp_path: Path) -> Path:
    """A checkpoint and its metrics file that a failed run must leave untouched."""
    path = tmp_path / "existing.pt"
    save_checkpoint({"model_state": {"w": torch.ones(2)}}, path)
    path.with_name(path.name + ".metrics.jsonl").write_text(
        '{"tokens": 100, "train_loss": 2.0, "val_loss": 1.0}\n')
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def write_bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    return make


def empty_directory(tmp: Path) -> Path:
    (tmp / "texts").mkdir()
    (tmp / "texts" / "notes.pdf").write_bytes(b"%PDF")
    return tmp / "texts"


CORPUS_CASES: dict[str, tuple[Callable[[Path], Path], list[str], str]] = {
    "missing path": (lambda tmp: tmp / "nowhere.txt", [], "corpus not found"),
    "directory without text files": (empty_directory, [], "no text files in directory"),
    "empty file": (write_bytes("empty.txt", b""), [], "holds no sentences to train on"),
    "whitespace only": (write_bytes("blank.txt", b"  \n\n\t\n   \n"), [],
                        "holds no sentences to train on"),
    "binary file": (write_bytes("model.bin", bytes(range(256)) * 10), [],
                    "looks like a binary file"),
    "CSV without the column": (write_bytes("posts.csv", b"title,score\nhello there.,3\n"),
                               ["--text-column", "body"], "has no column 'body'"),
    "too few sentences": (write_bytes("one.txt", b"Only one sentence here.\n"), [],
                          "too few to hold out a validation split"),
}


@pytest.mark.parametrize("case", list(CORPUS_CASES))
def test_bad_corpus(case: str, tmp_path: Path, existing: Path) -> None:
    make, extra, expected = CORPUS_CASES[case]
    corpus = make(tmp_path)
    before = snapshot(tmp_path)
    result = invoke(["train", str(corpus), "-o", str(existing), "--force", *extra, *TINY])
    assert result.exit_code == 1
    assert expected in one_error_line(result)
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_a_50_mb_line_without_a_sentence_boundary(tmp_path: Path, existing: Path) -> None:
    corpus = tmp_path / "one-line.txt"
    corpus.write_bytes(b"alpha beta gamma delta epsilon " * (50_000_000 // 31) + b"\n")
    before = snapshot(tmp_path)
    # Cut into bounded paragraphs, each one over-long sentence that is dropped unread by the word
    # tokenizer: nothing is left to train on, which the user is told.
    result = invoke(["train", str(corpus), "-o", str(existing), "--force", *TINY])
    assert result.exit_code == 1
    assert "--max-sentence-words" in one_error_line(result)
    assert snapshot(tmp_path) == before


def test_over_long_sentences_are_dropped_with_a_count(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt")
    with open(corpus, "a", encoding="utf-8") as handle:
        handle.write("\n" + " ".join(["word"] * 500) + ".\n\n" + " ".join(["more"] * 60) + ".\n")
    out = tmp_path / "run.pt"
    result = invoke(["train", str(corpus), "-o", str(out), "--epochs", "1",
                     "--max-sentence-words", "50", *TINY])
    assert result.exit_code == 0, result.output
    assert "Warning: 2 sentences longer than --max-sentence-words=50 words were dropped" in (
        result.output)


def test_invalid_utf8_is_replaced_with_a_counted_warning(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt")
    corpus.write_bytes(corpus.read_bytes() + b"\nBad \xff bytes \xfe here \xc3.\n")
    out = tmp_path / "run.pt"
    result = invoke(["train", str(corpus), "-o", str(out), "--epochs", "1", *TINY])
    assert result.exit_code == 0, result.output
    assert "Warning: 3 invalid UTF-8 byte sequences were replaced by U+FFFD" in result.output
    assert out.exists()


SETTING_CASES: dict[str, tuple[list[str], dict[str, str], str]] = {
    "vocabulary smaller than the special tokens": (
        ["--vocabulary-size", "3"], {}, "--vocabulary-size: 3 is too small; it must be at least 4"),
    "zero hidden size": (["--hidden-dim", "0"], {}, "--hidden-dim: 0 is too small"),
    "negative embedding size": (["--embedding-dim", "-5"], {}, "--embedding-dim: -5 is too small"),
    "zero batch size": (["--batch-size", "0"], {}, "--batch-size: 0 is too small"),
    "zero layers": (["--layers", "0"], {}, "--layers: 0 is too small"),
    "non-numeric variable": ([], {"CHARLM_HIDDEN_DIM": "big"},
                             "CHARLM_HIDDEN_DIM='big' is not a whole number"),
    "non-numeric tutorial variable": ([], {"LEARNING_RATE": "fast"},
                                      "LEARNING_RATE='fast' is not a number"),
    "out-of-range variable": ([], {"NEPOCH": "0"}, "NEPOCH: 0 is too small"),
    "out-of-range learning rate": ([], {"CHARLM_LEARNING_RATE": "1e9"}, "is too large"),
    "unknown cell": (["--cell", "transformer"], {},
                     "--cell: unknown value 'transformer'; choose one of gru, lstm, rnn"),
    "zero learning rate": (["--learning-rate", "0"], {},
                           "--learning-rate: 0.0 is too small; it must be greater than 0"),
    "zero sentence limit": (["--max-sentence-words", "0"], {}, "--max-sentence-words: 0"),
}


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_bad_setting(case: str, corpus_file: Path, existing: Path) -> None:
    args, env, expected = SETTING_CASES[case]
    before = snapshot(existing.parent)
    result = invoke(["train", str(corpus_file), "-o", str(existing), "--force", *args], env)
    assert result.exit_code == 2
    assert expected in one_error_line(result)
    assert snapshot(existing.parent) == before


def unwritable_directory(tmp: Path) -> Path:
    if os.geteuid() == 0:
        # Permissions do not stop root; /proc refuses new files to everyone, though os.access
        # says it is writable, so this checks charlm really tries.
        return Path("/proc")
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return locked


OUTPUT_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing directory": (lambda tmp: tmp / "no-such-dir" / "model.pt", "does not exist"),
    "unwritable directory": (lambda tmp: unwritable_directory(tmp) / "model.pt",
                             "is not writable"),
    "directory under a file": (lambda tmp: tmp / "corpus.txt" / "model.pt",
                               "is a file, not a directory"),
    "a file that is not a checkpoint": (write_bytes("notes.txt", b"my notes\n"),
                                        "exists and is not a charlm checkpoint; it is never "
                                        "replaced, not even with --force"),
    "an existing checkpoint": (lambda tmp: tmp / "existing.pt",
                               "already holds a charlm checkpoint; pass --force"),
    "a directory": (lambda tmp: tmp, "is a directory"),
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_bad_output(case: str, tmp_path: Path, corpus_file: Path, existing: Path) -> None:
    make, expected = OUTPUT_CASES[case]
    out = make(tmp_path)
    before = snapshot(tmp_path)
    result = invoke(["train", str(corpus_file), "-o", str(out), *TINY])
    assert result.exit_code == 1
    assert expected in one_error_line(result)
    assert snapshot(tmp_path) == before


def test_force_never_replaces_a_file_that_is_not_a_checkpoint(tmp_path: Path,
                                                               corpus_file: Path) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")
    before = snapshot(tmp_path)
    result = invoke(["train", str(corpus_file), "-o", str(out), "--force", *TINY])
    assert "notes.txt exists and is not a charlm checkpoint; it is never replaced, not even " \
        "with --force" in one_error_line(result, code=1)
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("model")
    corpus = write_corpus(tmp / "corpus.txt")
    out = tmp / "model.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus), out=str(out), epochs=1)),
                 quiet_reporter())
    return out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--min-words", "5", "--max-words", "3"],
         "--min-words=5 is above --max-words=3: no sentence could qualify"),
        (["--temperature", "0"], "--temperature: 0.0 is too small; it must be greater than 0"),
        (["--temperature", "-1"], "--temperature: -1.0 is too small"),
    ],
)
def test_bad_generate_setting(model_file: Path, args: list[str], expected: str) -> None:
    result = invoke(["generate", str(model_file), *args])
    assert result.exit_code == 2
    assert expected in one_error_line(result)


def test_a_prompt_of_unknown_words_warns_and_generates(model_file: Path) -> None:
    result = invoke(["generate", str(model_file), "--prompt", "zyxxy quorble", "-n", "2",
                     "--allow-unknown", "--min-words", "0", "--seed", "1", "--tokens"])
    assert result.exit_code == 0, result.output
    # Worded as `charlm complete` words it.
    assert ("Warning: none of the words of 'zyxxy quorble' is in the vocabulary; they are read "
            "as UNKNOWN_TOKEN") in result.stderr.splitlines()
    lines = result.stdout.strip().splitlines()  # a passage, its sentences' tokens a line each
    assert len(lines) == 2 and lines[0].startswith("zyxxy quorble")
