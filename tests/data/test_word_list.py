"""A fixed vocabulary from a word list (`train --vocabulary`): the list read in either layout,
the vocabulary made of its words, the cache keyed by them, and bad lists refused in one line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers.training import one_error_line
from typer.testing import CliRunner

from charlm.cli import app
from charlm.data.cache import cached_prepare
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.vocab import SPECIAL_TOKENS, UNKNOWN_ID
from charlm.data.word_list import read_word_list
from charlm.errors import ConfigError

runner = CliRunner()
# Counted by hand: the 3, cat 3, sat 2, ran 2, dog 1, a 1, <unk> 1: 13 tokens.
CORPUS = "the cat sat\nthe dog sat\na cat ran\nthe cat ran <unk>\n"
# Read as written, one sentence a line, so the counts above are the corpus's words.
SETTINGS = PrepareSettings(words="whitespace", split="one-per-line", lowercase=False)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_one_word_a_line_is_taken_as_written(tmp_path: Path) -> None:
    listed = write(tmp_path / "words.txt",
                   "The\nthe\n\n  NASA  \n<s>\n</s>\n<unk>\n<UNK>\nUNKNOWN_TOKEN\n#0\n")
    # Sentence boundaries, the unknown word and charlm's tokens are none; "#0" is a word here.
    assert read_word_list(listed).words == ("The", "the", "NASA", "#0")


def test_kaldi_words_txt_leaves_out_its_symbols(tmp_path: Path) -> None:
    listed = write(tmp_path / "words.txt", "<eps> 0\n!SIL 1\n<UNK> 2\nhello 3\nWorld 4\n"
                                           "#0 5\n#12 6\n<s> 7\n</s> 8\n")
    assert read_word_list(listed).words == ("!SIL", "hello", "World")


def test_the_vocabulary_is_the_lists_words_ranked_by_the_corpus(tmp_path: Path) -> None:
    corpus = write(tmp_path / "corpus.txt", CORPUS)
    listed = write(tmp_path / "words.txt", "zebra\nran\nthe\ncat\n<unk>\n")
    prepared = prepare_corpus(corpus, replace(SETTINGS, vocabulary=listed))
    # cat and the (3 each, alphabetical), ran (2), zebra (absent: 0, kept all the same).
    assert prepared.vocabulary.words == [*SPECIAL_TOKENS, "cat", "the", "ran", "zebra"]
    cat, the, ran = 3, 4, 5
    unknown = UNKNOWN_ID
    expected = [the, cat, unknown, the, unknown, unknown, unknown, cat, ran,
                the, cat, ran, unknown]  # the corpus's <unk> is UNKNOWN_TOKEN too
    assert prepared.sentences.ids.tolist() == expected
    stats = prepared.vocabulary_stats
    assert (stats.tokens, stats.unique_words, stats.size) == (13, 7, 7)
    assert (stats.least_frequent_word, stats.least_frequent_count) == ("zebra", 0)
    assert stats.coverage == pytest.approx(8 / 13)


def test_the_cache_is_keyed_by_the_lists_words(tmp_path: Path) -> None:
    corpus = write(tmp_path / "corpus.txt", CORPUS)
    cache = tmp_path / "cache"
    listed = write(tmp_path / "words.txt", "cat\nthe\n")
    first, hit = cached_prepare(corpus, replace(SETTINGS, vocabulary=listed), cache_dir=cache)
    assert not hit and first.vocabulary.words[3:] == ["cat", "the"]
    # The same words elsewhere, in another order and layout: the same vocabulary, reused.
    moved = write(tmp_path / "moved.txt", "the 1\ncat 2\n")
    again, hit = cached_prepare(corpus, replace(SETTINGS, vocabulary=moved), cache_dir=cache)
    assert hit and np.array_equal(again.sentences.ids, first.sentences.ids)
    # The list edited in place: prepared again, never the entry of its old words.
    write(tmp_path / "words.txt", "cat\nthe\nsat\n")
    edited, hit = cached_prepare(corpus, replace(SETTINGS, vocabulary=listed), cache_dir=cache)
    assert not hit and edited.vocabulary.words[3:] == ["cat", "the", "sat"]
    # Without a list, the corpus's most frequent words: another entry again.
    _, hit = cached_prepare(corpus, SETTINGS, cache_dir=cache)
    assert not hit


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the word list {path} is empty"),
    ("\n  \n", "the word list {path} is empty"),
    ("<s>\n</s>\n<unk>\n", "the word list {path} holds no word"),
    ("cat\nthe dog\n", "the word list {path}, line 2: 'the dog' is not one word"),
    ("cat 1\ndog 2\ndog cat 3\n", "the word list {path}, line 3: 'dog cat 3' is not a word and "
                                 "its id; the first line is a word and its id, as in Kaldi's "
                                 "words.txt, so every line must be"),
    ("<eps> 0\ncat 1\ndog\n", "the word list {path}, line 3: 'dog' is not a word and its id"),
    ("cat\ndog 2\n", "the word list {path}, line 2: 'dog 2' is not one word"),
    ("cat\n\ndog\ncat\n", "the word list {path}, line 4: 'cat' is listed twice (first on line 1)"),
    ("cat 1\ndog 2\ncat 3\n", "the word list {path}, line 3: 'cat' is listed twice"),
])
def test_a_bad_list_is_refused_naming_the_file_and_line(tmp_path: Path, text: str,
                                                        expected: str) -> None:
    listed = write(tmp_path / "words.txt", text)
    with pytest.raises(ConfigError) as raised:
        read_word_list(listed)
    assert str(raised.value).startswith(expected.format(path=listed))
    assert "\n" not in str(raised.value)


def test_an_unreadable_list_is_refused_naming_the_file(tmp_path: Path) -> None:
    for path, expected in [(tmp_path / "none.txt", "word list not found: {path}"),
                           (tmp_path, "the word list {path} is a directory")]:
        with pytest.raises(ConfigError, match="^" + expected.format(path=path)):
            read_word_list(str(path))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("cat\ncafé\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"^the word list {latin1}, line 2: not UTF-8 text"):
        read_word_list(str(latin1))


@pytest.mark.parametrize(("text", "expected"), [
    (None, "word list not found: {path}; check the path"),
    ("", "the word list {path} is empty: give one word a line, or a word and its id on every "
         "line (Kaldi's words.txt)"),
    ("<eps> 0\ncat 1\ndog\n", "the word list {path}, line 3: 'dog' is not a word and its id; "
                              "the first line is a word and its id, as in Kaldi's words.txt, so "
                              "every line must be"),
    ("cat\ndog\ncat\n", "the word list {path}, line 3: 'cat' is listed twice (first on line 1); "
                       "list each word once"),
])
def test_train_refuses_a_bad_list_in_one_line_writing_nothing(tmp_path: Path, text: str | None,
                                                              expected: str) -> None:
    corpus = write(tmp_path / "corpus.txt", CORPUS * 20)
    listed = tmp_path / "words.txt"
    if text is not None:
        write(listed, text)
    out = tmp_path / "m.pt"
    result = runner.invoke(app, ["train", corpus, "--vocabulary", str(listed), "-o", str(out),
                                 "--epochs", "1", "--samples", "0"])
    assert one_error_line(result, 2) == "Error: " + expected.format(path=listed)
    assert not out.exists() and not Path(f"{out}.metrics.jsonl").exists()


def test_vocabulary_size_beside_a_list_is_refused(tmp_path: Path) -> None:
    listed = write(tmp_path / "words.txt", "cat\n")
    result = runner.invoke(app, ["train", write(tmp_path / "c.txt", CORPUS), "--vocabulary",
                                 listed, "--vocabulary-size", "100"])
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "Error: --vocabulary makes the vocabulary of the words of its list, and "
        "--vocabulary-size makes it of the corpus's most frequent words: give one of them")
    from_variables = runner.invoke(app, ["train", str(tmp_path / "c.txt")],
                                   env={"CHARLM_VOCABULARY": listed, "VOCABULARY_SIZE": "100"})
    assert from_variables.exit_code == 2
    assert "CHARLM_VOCABULARY makes" in from_variables.stderr
    assert "and VOCABULARY_SIZE makes" in from_variables.stderr
