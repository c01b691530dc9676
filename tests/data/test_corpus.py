import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from helpers.corpora import write_corpus

from charlm.data.corpus import read_paragraphs
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.errors import CorpusError


def test_wrapped_lines_join_into_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.txt"
    path.write_text("It was a bright\ncold day in April.\n\n\nThe clocks were\nstriking.\n")
    assert list(read_paragraphs(path)) == [
        "It was a bright cold day in April.",
        "The clocks were striking.",
    ]


def test_gzip_and_directory_read_like_plain_text(tmp_path: Path) -> None:
    text = "One line\nwrapped.\n\nSecond paragraph.\n"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text(text)
    with gzip.open(tmp_path / "dir" / "b.txt.gz", "wt") as handle:
        handle.write("Third paragraph.\n")
    (tmp_path / "dir" / "notes.csv").write_text("body\nignored\n")
    assert list(read_paragraphs(tmp_path / "dir")) == [
        "One line wrapped.",
        "Second paragraph.",
        "Third paragraph.",
    ]


def test_csv_uses_body_column_with_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "comments.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body"])
        writer.writerow(["1", "First comment,\nstill first.\n\nA new paragraph."])
        writer.writerow(["2", 'He said "hi".'])
    assert list(read_paragraphs(path)) == [
        "First comment, still first.",
        "A new paragraph.",
        'He said "hi".',
    ]


def test_csv_text_column_choice(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("title,text\nA title,Some text.\n")
    assert list(read_paragraphs(path)) == ["Some text."]
    assert list(read_paragraphs(path, text_column="title")) == ["A title"]
    with pytest.raises(CorpusError, match="no column 'body'.*--text-column"):
        list(read_paragraphs(path, text_column="body"))
    plain = tmp_path / "first.csv"
    plain.write_text("sentence,label\nFirst column wins.,1\n")
    assert list(read_paragraphs(plain)) == ["First column wins."]


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    from charlm.data.corpus import CorpusStats

    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait.".encode("latin-1"))
    stats = CorpusStats()
    assert list(read_paragraphs(path, stats=stats)) == ["caf\ufffd au lait."]
    assert stats.replaced_characters == 1


@pytest.mark.parametrize("name", ["corpus.txt.gz", "corpus.gz"])
def test_a_gzip_file_given_as_the_corpus_prepares_as_its_text(tmp_path: Path, name: str) -> None:
    plain = write_corpus(tmp_path / "corpus.txt")
    packed = tmp_path / name
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(read_paragraphs(packed)) == list(read_paragraphs(plain))
    settings = PrepareSettings(vocabulary_size=40)
    from_gzip = prepare_corpus(str(packed), settings)
    from_text = prepare_corpus(str(plain), settings)
    assert len(from_gzip.sentences) == 400
    assert np.array_equal(from_gzip.sentences.ids, from_text.sentences.ids)
    assert from_gzip.vocabulary.words == from_text.vocabulary.words
