from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers.corpora import write_corpus
from helpers.training import TINY, one_error_line
from typer.testing import CliRunner

from charlm.cli import app
from charlm.data import vocab
from charlm.data.batches import epoch_order, make_batch, split_validation
from charlm.data.prepare import PreparedCorpus, prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.types import IGNORE, EncodedSentences
from charlm.data.vocab import END_ID, SPECIAL_TOKENS, START_ID, UNKNOWN_ID, build_vocabulary
from charlm.errors import CorpusError
from charlm.options import metadata
from charlm.training.config import TrainConfig


def test_vocabulary_keeps_most_frequent_with_deterministic_ties() -> None:
    counts = Counter({"the": 10, "cat": 3, "bat": 3, "ant": 3, "zebra": 1})
    vocabulary, stats = build_vocabulary(counts, size=6)
    assert vocabulary.words == [*SPECIAL_TOKENS, "the", "ant", "bat"]
    assert vocabulary.encode(["the", "cat", "bat"]) == [3, UNKNOWN_ID, 5]
    assert stats.size == 6
    assert stats.unique_words == 5
    assert (stats.least_frequent_word, stats.least_frequent_count) == ("bat", 3)
    assert stats.coverage == pytest.approx(16 / 20)


def test_every_word_beyond_the_largest_vocabulary_is_refused_before_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--vocabulary-size 0 keeps every word only up to the bound an explicit size has; the bound
    is lowered here to fit a small corpus."""
    assert metadata(TrainConfig, "vocabulary_size")["maximum"] == vocab.MAX_VOCABULARY
    corpus = write_corpus(tmp_path / "corpus.txt")
    every = prepare_corpus(str(corpus), PrepareSettings(vocabulary_size=0))
    words = every.vocabulary_stats.unique_words
    assert len(every.vocabulary) == words + len(SPECIAL_TOKENS) <= vocab.MAX_VOCABULARY

    monkeypatch.setattr(vocab, "MAX_VOCABULARY", len(every.vocabulary) - 1)
    out = tmp_path / "every.pt"
    result = CliRunner().invoke(app, ["train", str(corpus), "-o", str(out), *TINY,
                                      "--vocabulary-size", "0"])
    bound = len(every.vocabulary) - 1
    assert one_error_line(result, 1) == (
        f"Error: --vocabulary-size 0 keeps every word, and the corpus has {words:,} distinct "
        f"words, more than a vocabulary of at most {bound:,} holds (the special tokens "
        f"included): give --vocabulary-size {bound} or less (a vocabulary of {bound:,} covers "
        f"{refused_coverage(every, bound):.1%} of the tokens), and --softmax adaptive, far "
        "faster for a large vocabulary")
    assert not out.exists()
    # At the bound itself, every word is kept.
    monkeypatch.setattr(vocab, "MAX_VOCABULARY", len(every.vocabulary))
    assert prepare_corpus(str(corpus), PrepareSettings(vocabulary_size=0)).vocabulary.words == (
        every.vocabulary.words)


def refused_coverage(every: PreparedCorpus, size: int) -> float:
    """The share of tokens the `size` most frequent words (the special tokens counted) cover."""
    counts = np.bincount(every.sentences.ids.astype(np.int64), minlength=len(every.vocabulary))
    return float(counts[:size].sum() / counts.sum())


def encoded(sentences: list[list[int]]) -> EncodedSentences:
    lengths = [len(s) for s in sentences]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return EncodedSentences(np.array(sum(sentences, []), dtype=np.uint16), offsets)


def test_batch_predicts_every_word_and_end_and_ignores_padding() -> None:
    data = encoded([[5, 6, 7], [8]])
    batch = make_batch(data, np.array([0, 1]))
    assert batch.inputs.tolist() == [[START_ID, 5, 6, 7], [START_ID, 8, 0, 0]]
    assert batch.targets.tolist() == [[5, 6, 7, END_ID], [8, END_ID, IGNORE, IGNORE]]
    assert batch.tokens == 6


def test_validation_split_is_disjoint_seeded_and_needs_two_sentences() -> None:
    train, valid = split_validation(100, 0.05, seed=3)
    assert len(valid) == 5 and len(train) == 95
    assert not set(train) & set(valid)
    assert np.array_equal(split_validation(100, 0.05, seed=3)[1], valid)
    assert not np.array_equal(split_validation(100, 0.05, seed=4)[1], valid)
    with pytest.raises(CorpusError, match="too few"):
        split_validation(1, 0.05, seed=0)


def test_epoch_order_covers_every_sentence_once_with_little_padding() -> None:
    lengths = np.random.default_rng(0).integers(1, 60, size=5000)
    batches = epoch_order(lengths, batch_size=64, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(5000))
    padded = sum(len(b) * (lengths[b].max() + 1) for b in batches)
    real = sum((lengths[b] + 1).sum() for b in batches)
    assert (padded - real) / padded < 0.05
    again = epoch_order(lengths, batch_size=64, seed=1, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = epoch_order(lengths, batch_size=64, seed=1, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))

