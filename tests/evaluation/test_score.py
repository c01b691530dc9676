"""`charlm score`: one row per sentence, a summary equal to `evaluate`'s, and clean errors."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.training import ROOT, one_error_line
from nltk.tokenize import NLTKWordTokenizer
from typer.testing import CliRunner

from charlm.cli import app

runner = CliRunner()
LINES = [
    "Anna walked to the garden in the morning.",
    "",
    "Ben was tired. Clara was quiet.",  # two sentences on one line: scored as one
    "the\tzebra saw a xylophone",  # a tab, and words outside the vocabulary
    "  Did Henry see the river?  ",
]


def invoke(args: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["score", *args], input=stdin, env=env)


def json_rows(result: Any) -> tuple[list[dict], dict]:
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert "summary" in records[-1] and all("summary" not in r for r in records[:-1])
    return records[:-1], records[-1]["summary"]



def test_summary_is_evaluates_to_the_last_digit(trained_model: dict) -> None:
    model, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])
    evaluated = runner.invoke(app, ["evaluate", model, valid, "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    expected = json.loads(evaluated.stdout)
    _, summary = json_rows(invoke([model, valid, "--json"]))
    for key, value in expected.items():
        if key not in ("model", "per_token"):
            assert summary[key] == value, key
    # The printed table too: score prints evaluate's rows, then its own.
    table = runner.invoke(app, ["evaluate", model, valid])
    scored = invoke([model, valid])
    assert scored.exit_code == 0, scored.output
    assert scored.stderr.splitlines()[: len(table.stdout.splitlines())] == (
        table.stdout.splitlines())


def test_sentence_rows_add_up_to_the_summary(trained_model: dict, tmp_path: Path) -> None:
    model, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])
    rows, summary = json_rows(invoke([model, valid, "--json"]))
    # Each row is its sentence's tokens as evaluate --per-token measures them.
    per_token = tmp_path / "tokens.tsv"
    evaluated = runner.invoke(app, ["evaluate", model, valid, "--per-token", str(per_token)])
    assert evaluated.exit_code == 0, evaluated.output
    with open(per_token, encoding="utf-8") as handle:
        tokens = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    bits = [0.0] * len(rows)
    for token in tokens:
        bits[int(token["sentence"]) - 1] += float(token["surprisal_bits"])
    for row, sentence_bits in zip(rows, bits, strict=True):
        assert row["log_prob"] == pytest.approx(-sentence_bits * math.log(2), abs=1e-4)
    assert [r["sentence"] for r in rows] == list(range(1, summary["sentences"] + 1))
    assert sum(r["tokens"] for r in rows) == summary["tokens"]
    assert sum(r["oov"] for r in rows) == summary["oov_words"]
    assert sum(r["log_prob"] for r in rows) == pytest.approx(summary["log_prob"], abs=1e-9)
    assert summary["log_prob"] == pytest.approx(-summary["loss"] * summary["tokens"], rel=1e-12)
    assert summary["log10_prob"] == pytest.approx(summary["log_prob"] / math.log(10), rel=1e-12)
    for row in rows:
        assert row["log10_prob"] == pytest.approx(row["log_prob"] / math.log(10), rel=1e-12)
        assert row["perplexity"] == pytest.approx(math.exp(-row["log_prob"] / row["tokens"]))
    # The table holds the same figures, rounded.
    table = invoke([model, valid])
    tsv = list(csv.DictReader(table.stdout.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert list(tsv[0]) == ["sentence", "text", "tokens", "oov", "log_prob", "log10_prob",
                            "perplexity"]
    assert len(tsv) == len(rows)
    for line, row in zip(tsv, rows):
        assert line["text"] == row["text"] and int(line["tokens"]) == row["tokens"]
        assert float(line["log_prob"]) == pytest.approx(row["log_prob"], abs=1e-6)


def test_perplexity_excluding_unknown_leaves_out_unknown_targets(
    trained_model: dict, tmp_path: Path
) -> None:
    text = tmp_path / "odd.txt"
    text.write_text("Anna saw a zebra in the garden.\n\nBen was quiet.\n", encoding="utf-8")
    model = str(trained_model["checkpoint"])
    per_token = tmp_path / "tokens.tsv"
    evaluated = runner.invoke(app, ["evaluate", model, str(text), "--per-token", str(per_token)])
    assert evaluated.exit_code == 0, evaluated.output
    with open(per_token, encoding="utf-8") as handle:
        tokens = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    known = [float(t["surprisal_bits"]) * math.log(2) for t in tokens if t["oov"] == "0"]
    _, summary = json_rows(invoke([model, str(text), "--json"]))
    assert summary["oov_words"] >= 3  # saw, a, zebra
    assert summary["perplexity_excluding_unknown"] == pytest.approx(
        math.exp(sum(known) / len(known)), rel=1e-5)
    assert summary["perplexity"] == pytest.approx(math.exp(summary["loss"]))


def test_one_per_line_gives_one_row_per_line_as_given(trained_model: dict,
                                                      tmp_path: Path) -> None:
    model = str(trained_model["checkpoint"])
    rows, summary = json_rows(invoke([model, "--one-per-line", "--json"],
                                     stdin="\n".join(LINES) + "\n"))
    assert [r["text"] for r in rows] == LINES
    assert summary["sentences"] == len(LINES) and summary["files"] == ["standard input"]
    assert rows[1]["tokens"] == 1  # an empty line: only SENTENCE_END
    # Not split into sentences: NLTK's word tokenizer over the whole line, one SENTENCE_END.
    assert rows[2]["tokens"] == len(NLTKWordTokenizer().tokenize(LINES[2].lower())) + 1 == 8
    assert rows[3]["oov"] == 4  # zebra saw a xylophone
    # A line scores as the same sentence read from a file does.
    single = tmp_path / "one.txt"
    single.write_text(LINES[0] + "\n", encoding="utf-8")
    alone, _ = json_rows(invoke([model, str(single), "--json"]))
    assert alone[0]["log_prob"] == pytest.approx(rows[0]["log_prob"], abs=1e-5)
    # TSV: a header and exactly one row per line, the tab shown as a space.
    table = invoke([model, "--one-per-line"], stdin="\n".join(LINES) + "\n")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert len(lines) == len(LINES) + 1
    assert all(len(line.split("\t")) == 7 for line in lines)
    assert lines[4].split("\t")[1] == "the zebra saw a xylophone"


def test_files_stdin_and_csv_read_alike(trained_model: dict, tmp_path: Path) -> None:
    model, valid = str(trained_model["checkpoint"]), trained_model["valid"]
    from_file, summary = json_rows(invoke([model, str(valid), "--json"]))
    from_stdin, stdin_summary = json_rows(invoke([model, "-", "--json"],
                                                 stdin=valid.read_text(encoding="utf-8")))
    assert from_stdin == from_file
    assert stdin_summary["loss"] == summary["loss"]
    table = tmp_path / "candidates.csv"
    with open(table, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([[i, line] for i, line in enumerate(LINES)])
    from_csv, _ = json_rows(invoke([model, str(table), "--one-per-line", "--json",
                                    "--text-column", "text", "--device", "cpu"]))
    lines = tmp_path / "candidates.txt"
    lines.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    from_lines, _ = json_rows(invoke([model, str(lines), "--one-per-line", "--json"]))
    assert from_csv == from_lines and len(from_csv) == len(LINES)


def test_batch_size_and_variables(trained_model: dict) -> None:
    model, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])
    batched, summary = json_rows(invoke([model, valid, "--json"]))
    one_by_one, single_summary = json_rows(invoke([model, valid], env={
        "CHARLM_SCORE_JSON": "1", "CHARLM_SCORE_BATCH_SIZE": "1"}))
    assert single_summary["loss"] == pytest.approx(summary["loss"], rel=1e-6)
    assert [r["tokens"] for r in one_by_one] == [r["tokens"] for r in batched]


def test_bad_input_is_one_line(trained_model: dict, tmp_path: Path) -> None:
    model = str(trained_model["checkpoint"])
    missing = invoke([str(tmp_path / "missing.pt")], stdin="hi\n")
    assert "not found" in one_error_line(missing, code=1)
    assert "no checkpoint given" in one_error_line(invoke([]), code=2)
    assert "no sentences to score" in one_error_line(invoke([model], stdin=""), code=1)
    assert "no sentences to score" in one_error_line(invoke([model], stdin="\n  \n"), code=1)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert "no sentences to score" in one_error_line(invoke([model, str(empty)]), code=1)
    assert "not found" in one_error_line(invoke([model, str(tmp_path / "nope.txt")]), code=1)
    column = one_error_line(invoke([model, str(trained_model["valid"]), "--text-column", "x"]),
                            code=2)
    assert column == "Error: --text-column applies only to CSV files (.csv); drop it for text"
    foreign = one_error_line(
        invoke([model, "--one-per-line"], stdin="xylophone zebu\nquux\n"), code=1)
    assert "none of the 3 words" in foreign and "vocabulary" in foreign
    not_a_model = one_error_line(invoke([str(empty)], stdin="Anna was happy.\n"), code=1)
    assert "checkpoint" in not_a_model


def test_a_reader_that_stops_early_is_no_error(trained_model: dict, tmp_path: Path) -> None:
    """`charlm score ... | head -1`: the closed pipe ends the command quietly."""
    text = tmp_path / "many.txt"
    text.write_text("Anna walked to the garden in the morning.\n" * 5000, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "charlm", "score", str(trained_model["checkpoint"]), str(text),
         "--one-per-line"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"sentence\t")
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in errors and "Error" not in errors
