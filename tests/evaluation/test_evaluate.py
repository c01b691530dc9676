"""`charlm evaluate` and per-token surprisal, on a checkpoint trained in the session."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charlm.cli import app

runner = CliRunner()


def evaluate_json(*args: str) -> dict:
    result = runner.invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_evaluate_agrees_with_the_trainers_validation_loss(trained_model: dict) -> None:
    report = evaluate_json(str(trained_model["checkpoint"]), str(trained_model["valid"]))
    last = trained_model["metrics"][-1]
    assert report["loss"] == pytest.approx(last["val_loss"], rel=1e-5)
    assert report["perplexity"] == pytest.approx(math.exp(report["loss"]))
    assert report["bits_per_word"] == pytest.approx(report["loss"] / math.log(2))
    # Every sentence predicts its words and one SENTENCE_END.
    assert report["tokens"] == report["words"] + report["sentences"]
    assert report["sentences"] >= 60


def test_batching_never_counts_padding(trained_model: dict) -> None:
    model, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])
    one_by_one = evaluate_json(model, valid, "--batch-size", "1")
    batched = evaluate_json(model, valid, "--batch-size", "64")
    assert one_by_one["tokens"] == batched["tokens"]
    assert batched["loss"] == pytest.approx(one_by_one["loss"], rel=1e-5)


def test_surprisal_column_mean_is_the_loss_in_bits(trained_model: dict, tmp_path: Path) -> None:
    out = tmp_path / "tokens.tsv"
    report = evaluate_json(str(trained_model["checkpoint"]), str(trained_model["valid"]),
                           "--per-token", str(out))
    rows = read_tsv(out)
    assert list(rows[0]) == ["sentence", "position", "token", "oov", "surprisal_bits"]
    assert len(rows) == report["tokens"]
    mean_bits = sum(float(r["surprisal_bits"]) for r in rows) / len(rows)
    assert mean_bits == pytest.approx(report["bits_per_word"], abs=1e-6)
    assert all(float(r["surprisal_bits"]) > 0 for r in rows)
    # Sentences are numbered 1..N, positions run 1..n+1 and each sentence ends with SENTENCE_END.
    sentences: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        sentences.setdefault(int(row["sentence"]), []).append(row)
    assert sorted(sentences) == list(range(1, report["sentences"] + 1))
    for sentence_rows in sentences.values():
        assert [int(r["position"]) for r in sentence_rows] == list(range(1, len(sentence_rows) + 1))
        assert sentence_rows[-1]["token"] == "SENTENCE_END"
        assert all(r["token"] != "SENTENCE_END" for r in sentence_rows[:-1])
    assert sum(int(r["oov"]) for r in rows) == report["oov_words"]


def test_out_of_vocabulary_words_are_flagged_and_shown(trained_model: dict,
                                                        tmp_path: Path) -> None:
    text = tmp_path / "odd.txt"
    text.write_text("Anna saw a zebra in the garden.\n\nThe xylophone was quiet.\n",
                    encoding="utf-8")
    out = tmp_path / "odd.tsv"
    report = evaluate_json(str(trained_model["checkpoint"]), str(text), "--per-token", str(out))
    rows = read_tsv(out)
    flagged = {r["token"] for r in rows if r["oov"] == "1"}
    assert {"zebra", "xylophone", "saw", "a"} <= flagged
    assert "garden" not in flagged
    assert report["oov_words"] == len([r for r in rows if r["oov"] == "1"])
    assert report["oov_rate"] == pytest.approx(report["oov_words"] / report["words"])


def write_rows(path: Path, fields: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body"])
        writer.writerows([i, field] for i, field in enumerate(fields))
    return path


def test_csv_and_several_files(trained_model: dict, tmp_path: Path) -> None:
    """A CSV holding the same text scores the same (a row is a document, as a file is); several
    files are pooled, each its own document."""
    valid = trained_model["valid"]
    text = valid.read_text(encoding="utf-8")
    model = str(trained_model["checkpoint"])
    from_text = evaluate_json(model, str(valid))
    one_row = write_rows(tmp_path / "one-row.csv", [text])
    from_csv = evaluate_json(model, str(one_row))
    assert from_text["context"] == "document"
    assert from_csv["tokens"] == from_text["tokens"]
    assert from_csv["loss"] == pytest.approx(from_text["loss"], rel=1e-6)
    pooled = evaluate_json(model, str(valid), str(one_row))
    assert pooled["files"] == [str(valid), str(one_row)]
    assert pooled["tokens"] == 2 * from_text["tokens"]
    assert pooled["loss"] == pytest.approx(from_text["loss"], rel=1e-6)
    # A row for each paragraph: each read alone in document context, as every sentence is in
    # sentence context.
    rows = write_rows(tmp_path / "paragraphs.csv", text.split("\n\n"))
    alone = evaluate_json(model, str(valid), "--context", "sentence")
    assert evaluate_json(model, str(rows), "--context", "sentence")["loss"] == pytest.approx(
        alone["loss"], rel=1e-6)
    assert evaluate_json(model, str(rows))["loss"] != pytest.approx(from_text["loss"],
                                                                    rel=1e-6)


def test_table_output(trained_model: dict) -> None:
    result = runner.invoke(app, ["evaluate", str(trained_model["checkpoint"]),
                                 str(trained_model["valid"])])
    assert result.exit_code == 0, result.output
    for label in ("sentences", "tokens", "OOV rate", "loss", "perplexity", "bits per word"):
        assert label in result.stdout


def test_bad_input_is_one_line_and_writes_nothing(trained_model: dict, tmp_path: Path) -> None:
    model = str(trained_model["checkpoint"])
    missing = runner.invoke(app, ["evaluate", model, str(tmp_path / "nope.txt")])
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error:") and len(missing.stderr.splitlines()) == 1
    no_files = runner.invoke(app, ["evaluate", model])
    assert no_files.exit_code == 2
    out = tmp_path / "missing-dir" / "tokens.tsv"
    bad_out = runner.invoke(app, ["evaluate", model, str(trained_model["valid"]),
                                  "--per-token", str(out)])
    assert bad_out.exit_code == 1 and "does not exist" in bad_out.stderr
    not_a_model = runner.invoke(app, ["evaluate", str(trained_model["valid"]),
                                      str(trained_model["valid"])])
    assert not_a_model.exit_code == 1 and "Traceback" not in not_a_model.output


def test_train_valid_file_must_exist(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    result = runner.invoke(app, ["train", str(corpus_file), "--valid", str(tmp_path / "no.txt"),
                                 "-o", str(out)])
    assert result.exit_code == 1 and "no.txt" in result.stderr
    assert not out.exists()


def test_train_with_valid_trains_on_the_whole_corpus(trained_model: dict) -> None:
    from charlm.checkpoint.files import load_checkpoint

    document = load_checkpoint(trained_model["checkpoint"])
    assert document["train_config"]["valid"] == str(trained_model["valid"])
    # No sentence was held out: every one of the 400 is trained on.
    assert "training on 400 sentences, validating on 60 from " in trained_model["stdout"]


def test_evaluate_counts_exactly_the_predicted_tokens(trained_model: dict, tmp_path: Path) -> None:
    # Counted by hand: "anna walked to the garden ." and "ben was happy ." are 6 + 4 words, each
    # sentence predicts its words and one SENTENCE_END: 12 tokens, whatever the batching.
    text = tmp_path / "two.txt"
    text.write_text("Anna walked to the garden. Ben was happy.\n", encoding="utf-8")
    for batch_size in ("1", "2"):
        report = evaluate_json(str(trained_model["checkpoint"]), str(text),
                               "--batch-size", batch_size)
        assert (report["sentences"], report["words"], report["tokens"]) == (2, 10, 12)
