"""A UTF-8 byte-order mark (what spreadsheet programs and some editors write first) is not text:
a file or standard input that begins with one reads as the same text without it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.corpora import write_corpus
from helpers.training import TINY
from typer.testing import CliRunner

import charlm.data.cache
import charlm.data.corpus
import charlm.data.prepare
from charlm.cli import app
from charlm.data.cache import cached_prepare
from charlm.data.corpus import read_paragraphs
from charlm.data.prepare import encode_corpus, prepare_corpus
from charlm.data.settings import PrepareSettings

BOM = "\ufeff".encode()
TEXT = "The garden was quiet.\nAnna walked to the river.\n\nBen was happy.\n"


def invoke(args: list[str], stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(app, args, input=stdin)


def with_and_without(tmp_path: Path, name: str, data: bytes) -> tuple[Path, Path]:
    """The same bytes in two files, the first after a byte-order mark."""
    (tmp_path / "bom").mkdir(exist_ok=True)
    (tmp_path / "plain").mkdir(exist_ok=True)
    marked, plain = tmp_path / "bom" / name, tmp_path / "plain" / name
    marked.write_bytes(BOM + data)
    plain.write_bytes(data)
    return marked, plain


@pytest.mark.parametrize("name", ["text.txt", "notes.md"])
def test_a_text_file_reads_as_its_text_without_the_mark(tmp_path: Path, name: str) -> None:
    marked, plain = with_and_without(tmp_path, name, TEXT.encode())
    assert list(read_paragraphs(marked)) == list(read_paragraphs(plain))
    assert list(read_paragraphs(marked))[0].startswith("The garden")


def test_a_gzip_file_reads_as_its_text_without_the_mark(tmp_path: Path) -> None:
    marked = tmp_path / "text.txt.gz"
    marked.write_bytes(gzip.compress(BOM + TEXT.encode()))
    assert list(read_paragraphs(marked))[0].startswith("The garden")


def test_every_file_of_a_directory_reads_without_its_mark(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_bytes(BOM + b"First file.\n")
    (tmp_path / "texts" / "b.txt.gz").write_bytes(gzip.compress(BOM + b"Second file.\n"))
    assert list(read_paragraphs(tmp_path / "texts")) == ["First file.", "Second file."]


def test_a_csv_header_after_a_mark_names_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(BOM + b"text,label\nThe garden was quiet.,1\n")
    assert list(read_paragraphs(path, text_column="text")) == ["The garden was quiet."]
    # Without --text-column, the body column is recognised first.
    path.write_bytes(BOM + b"body,text\nThe body.,The text.\n")
    assert list(read_paragraphs(path)) == ["The body."]


def test_train_reads_a_csv_exported_as_csv_utf8(tmp_path: Path) -> None:
    rows = [line for line in write_corpus(tmp_path / "c.txt").read_text().splitlines() if line]
    path = tmp_path / "export.csv"
    path.write_bytes(BOM + ("text,label\n" + "".join(f'"{row}",1\n' for row in rows)).encode())
    result = invoke(["train", str(path), "--text-column", "text", "-o", str(tmp_path / "m.pt"),
                     "--epochs", "1", *TINY])
    assert result.exit_code == 0, result.output


def test_valid_reads_as_its_text_without_the_mark(tmp_path: Path) -> None:
    corpus = prepare_corpus(str(write_corpus(tmp_path / "corpus.txt")),
                            PrepareSettings(vocabulary_size=40))
    data = write_corpus(tmp_path / "valid.txt", sentences=20, seed=1).read_bytes()
    marked, plain = with_and_without(tmp_path, "valid.txt", data)
    read = [encode_corpus(str(path), corpus.tokenizer, corpus.vocabulary)
            for path in (marked, plain)]
    assert np.array_equal(read[0].ids, read[1].ids)
    assert np.array_equal(read[0].offsets, read[1].offsets)


def scores(result: Any) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_evaluate_and_score_read_files_without_the_mark(trained_model: dict, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(trained_model["checkpoint"])
    with_and_without(tmp_path, "valid.txt", trained_model["valid"].read_bytes())
    for command in (["evaluate", model, "--json"], ["score", model, "--json"]):
        read = []
        for folder in ("bom", "plain"):  # the same name in each, as the output shows it
            monkeypatch.chdir(tmp_path / folder)
            read.append(scores(invoke([*command, "valid.txt"])))
        assert read[0] == read[1]


@pytest.mark.parametrize("split", ["paragraphs", "one-per-line"])
def test_score_reads_standard_input_without_the_mark(trained_model: dict, split: str) -> None:
    model = str(trained_model["checkpoint"])
    text = trained_model["valid"].read_bytes()
    marked = scores(invoke(["score", model, "--json", "--split", split], stdin=BOM + text))
    plain = scores(invoke(["score", model, "--json", "--split", split], stdin=text))
    assert marked == plain
    assert not marked[0]["text"].startswith("\ufeff")


def test_complete_reads_standard_input_without_the_mark(trained_model: dict) -> None:
    model = str(trained_model["checkpoint"])
    marked = scores(invoke(["complete", model, "--json", "--seed", "1"],
                           stdin=BOM + b"Anna was\n"))
    plain = scores(invoke(["complete", model, "--json", "--seed", "1"], stdin=b"Anna was\n"))
    assert marked == plain
    assert marked[0]["prompt"] == "Anna was" and marked[0]["unknown"] == []


# The last preparation version whose reading kept a byte-order mark as text.
KEPT_THE_MARK = 4


def test_a_cached_preparation_that_kept_the_mark_is_not_served(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(BOM + write_corpus(tmp_path / "plain.txt").read_bytes())
    settings = PrepareSettings(vocabulary_size=40)
    with monkeypatch.context() as old_charlm:
        old_charlm.setattr(charlm.data.corpus, "TEXT_ENCODING", "utf-8")
        old_charlm.setattr(charlm.data.prepare, "PREPARE_VERSION", KEPT_THE_MARK)
        old_charlm.setattr(charlm.data.cache, "PREPARE_VERSION", KEPT_THE_MARK)
        stale, _ = cached_prepare(str(corpus), settings, cache_dir=tmp_path / "cache")
    fresh = prepare_corpus(str(corpus), settings)
    assert not np.array_equal(stale.sentences.ids, fresh.sentences.ids)  # its first word
    prepared, from_cache = cached_prepare(str(corpus), settings, cache_dir=tmp_path / "cache")
    assert not from_cache
    assert np.array_equal(prepared.sentences.ids, fresh.sentences.ids)
