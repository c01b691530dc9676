"""What a user is told when text reads badly: sentences dropped for length, a CSV quote that never
closes, and an NLTK whose word tokenizer charlm does not know. One line each, no traceback, and
nothing already saved is overwritten."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.corpora import sentence, write_corpus
from helpers.training import ROOT, TINY, child_environment
from typer.testing import CliRunner

from charlm.checkpoint.files import save_checkpoint
from charlm.cli import app


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--threads", "1", *TINY])
    assert "Traceback" not in result.output
    return result


def warnings_of(result: Any) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Warning: ")]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    path = tmp_path / "existing.pt"
    save_checkpoint({"model_state": {"w": torch.ones(2)}}, path)
    return path


def test_text_without_sentence_boundaries_says_why_and_what_to_do(
    tmp_path: Path, existing: Path
) -> None:
    # Three hundred unpunctuated lines read as one paragraph: one sentence of thousands of words.
    corpus = tmp_path / "chat.txt"
    corpus.write_text("\n".join(f"message number {i} from the log" for i in range(300)) + "\n")
    before = snapshot(tmp_path)
    result = invoke("train", str(corpus), "-o", str(existing), "--force", "--split", "paragraphs")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"Error: {corpus} holds no sentences to train on: 1 sentences longer than "
        "--max-sentence-words=200 words were dropped (the longest has 1,800) and no other "
        "sentence was left, so the text seems to have no sentence boundaries when read as "
        "paragraphs; if each line is a sentence, use --split lines (or one-per-line); else raise "
        "--max-sentence-words")
    assert snapshot(tmp_path) == before


def test_many_dropped_sentences_are_explained(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt", sentences=200)
    with open(corpus, "a", encoding="utf-8") as handle:
        for _ in range(30):
            handle.write("\n" + " ".join(["word"] * 250) + "\n")
    result = invoke("train", str(corpus), "-o", str(tmp_path / "run.pt"), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        "Warning: 30 sentences longer than --max-sentence-words=200 words were dropped (the "
        "longest has 250): 13% of all sentences, so the text seems to lack sentence boundaries "
        "when read as paragraphs; if each line is a sentence, use --split lines (or "
        "one-per-line); else raise --max-sentence-words"]


def test_score_and_evaluate_word_over_long_sentences_alike(trained_model: dict,
                                                          tmp_path: Path) -> None:
    text = tmp_path / "long.txt"
    text.write_text(" ".join(["anna"] * 300) + ".\n\nAnna walked to the garden.\n",
                    encoding="utf-8")
    told, summaries = [], []
    for command in ("score", "evaluate"):
        done = CliRunner().invoke(app, [command, str(trained_model["checkpoint"]), str(text),
                                        "--json"])
        assert done.exit_code == 0, done.output
        told.append([line for line in done.stderr.splitlines() if line.strip()])
        last = json.loads(done.stdout.splitlines()[-1])
        summaries.append(last.get("summary", last))
    warning = ("1 sentences longer than --max-sentence-words=200 words were not scored (the "
               "longest has 300), text read as paragraphs; if each line is a sentence, use "
               "--split lines (or one-per-line); else train with a larger --max-sentence-words")
    assert told[0] == told[1] == [f"Warning: {warning}"]
    # The JSON summary of each lists it too.
    assert summaries[0]["warnings"] == summaries[1]["warnings"] == [warning]


def test_csv_quote_that_never_closes_is_reported_with_its_row(tmp_path: Path) -> None:
    corpus = tmp_path / "posts.csv"
    rng = random.Random(0)
    with open(corpus, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body"])
        for i in range(120):
            writer.writerow([i, sentence(rng)])
        handle.write('120,"An open quote.\n')
        for i in range(30):
            handle.write(f"{121 + i},Anna walked home.\n")
    result = invoke("train", str(corpus), "-o", str(tmp_path / "run.pt"), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        f"Warning: {corpus}: the quoted field that opens in the row starting at line 122 is "
        "never closed, so the rest of the file was read into that field; close its quote (\")"]
    # Every reader of CSV says so, whichever way it cuts the text.
    for command in (["evaluate"], ["score"], ["score", "--split", "one-per-line"]):
        done = CliRunner().invoke(app, [command[0], str(tmp_path / "run.pt"), str(corpus),
                                        *command[1:], "--json"])
        assert done.exit_code == 0, done.output
        assert [line for line in done.stderr.splitlines() if line.strip()] == [
            f"Warning: {corpus}: the quoted field that opens in the row starting at line 122 "
            "is never closed, so the rest of the file was read into that field; close its "
            "quote (\")"], command


def test_an_nltk_with_other_word_rules_falls_back_with_one_warning(tmp_path: Path) -> None:
    # A changed NLTK: one pattern differs, the number of rules does not.
    corpus = write_corpus(tmp_path / "corpus.txt", sentences=100)
    out = tmp_path / "run.pt"
    script = f"""
import sys
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.destructive import redos
rules = list(NLTKWordTokenizer.PUNCTUATION)
rules[7] = (redos.compile(r"[?!~]"), r" \\g<0> ")
NLTKWordTokenizer.PUNCTUATION = rules
sys.argv = ["charlm", "train", {str(corpus)!r}, "-o", {str(out)!r}, "--epochs", "1",
            "--threads", "1", "--workers", "1", *{TINY!r}]
from charlm.cli import main
main()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=ROOT,
                            env=child_environment({"HOME": str(tmp_path)}))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    warnings = [line for line in (result.stdout + result.stderr).splitlines()
                if "word tokenizer" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("Warning: NLTK ")
    assert "its PUNCTUATION rules are not the ones charlm knows" in warnings[0]
    assert out.exists()
