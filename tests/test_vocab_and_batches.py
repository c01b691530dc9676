from collections import Counter

import numpy as np
import pytest

from charlm.data.batches import IGNORE, epoch_order, make_batch, split_validation
from charlm.data.prepare import EncodedSentences
from charlm.data.vocab import END_ID, SPECIAL_TOKENS, START_ID, UNKNOWN_ID, build_vocabulary
from charlm.errors import CorpusError


def test_vocabulary_keeps_most_frequent_with_deterministic_ties() -> None:
    counts = Counter({"the": 10, "cat": 3, "bat": 3, "ant": 3, "zebra": 1})
    vocabulary, stats = build_vocabulary(counts, size=6)
    assert vocabulary.words == [*SPECIAL_TOKENS, "the", "ant", "bat"]
    assert vocabulary.encode(["the", "cat", "bat"]) == [3, UNKNOWN_ID, 5]
    assert stats.size == 6
    assert stats.unique_words == 5
    assert (stats.least_frequent_word, stats.least_frequent_count) == ("bat", 3)
    assert stats.coverage == pytest.approx(16 / 20)


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

