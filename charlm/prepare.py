"""Corpus preparation: read, split, tokenize, count, build the vocabulary and encode to ids.

Words are interned to provisional ids while tokenizing, so the prepared corpus is held as compact
numpy arrays (a flat id array plus sentence offsets), never as Python lists of strings.
"""

from __future__ import annotations

import itertools
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from charlm.corpus import CorpusStats, read_paragraphs
from charlm.errors import CorpusError
from charlm.tokenizer import Tokenizer, build_tokenizer
from charlm.vocab import Vocabulary, VocabularyStats, build_vocabulary

PUNKT_SAMPLE_PARAGRAPHS = 20_000


@dataclass
class EncodedSentences:
    """Sentences as word ids: sentence i is ids[offsets[i]:offsets[i + 1]]."""

    ids: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def subset(self, indices: np.ndarray) -> EncodedSentences:
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[indices]
        flat = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return EncodedSentences(self.ids[flat], offsets)


@dataclass
class PreparedCorpus:
    """A corpus ready to train on, with what preparing it found."""

    sentences: EncodedSentences
    vocabulary: Vocabulary
    vocabulary_stats: VocabularyStats
    tokenizer: Tokenizer
    corpus_stats: CorpusStats = field(default_factory=CorpusStats)


def _interned(
    paragraphs: Iterator[str], tokenizer: Tokenizer
) -> tuple[array, array, dict[str, int]]:
    """Tokenize, mapping each distinct word to a provisional id in order of first appearance."""
    provisional: dict[str, int] = {}
    ids = array("i")
    lengths = array("q")
    for paragraph in paragraphs:
        for words in tokenizer.tokenize(paragraph):
            ids.extend([provisional.setdefault(w, len(provisional)) for w in words])
            lengths.append(len(words))
    return ids, lengths, provisional


def _offsets(lengths: array) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(lengths, dtype=np.int64), out=offsets[1:])
    return offsets


def prepare_corpus(
    path: str,
    *,
    vocabulary_size: int,
    lowercase: bool = True,
    drop_urls: bool = True,
    min_chars: int = 1,
    text_column: str | None = None,
    max_words: int = 0,
) -> PreparedCorpus:
    """Turn a corpus file into encoded sentences, a vocabulary and the tokenizer that made them."""
    sample = itertools.islice(read_paragraphs(path, text_column), PUNKT_SAMPLE_PARAGRAPHS)
    tokenizer = build_tokenizer(
        sample, lowercase=lowercase, drop_urls=drop_urls, min_chars=min_chars, max_words=max_words
    )
    stats = CorpusStats()
    ids, lengths, provisional = _interned(read_paragraphs(path, text_column, stats), tokenizer)
    if not lengths:
        raise CorpusError(f"{path} holds no sentences to train on: it is empty or every sentence "
                          "was filtered out (see --min-chars, --drop-urls and "
                          "--max-sentence-words)")
    words = list(provisional)
    counts_array = np.bincount(np.frombuffer(ids, dtype=np.int32), minlength=len(words))
    counts = Counter(dict(zip(words, counts_array.tolist())))
    vocabulary, vocabulary_stats = build_vocabulary(counts, vocabulary_size)
    remap = np.array(vocabulary.encode(words), dtype=vocabulary.id_dtype)
    encoded = EncodedSentences(remap[np.frombuffer(ids, dtype=np.int32)], _offsets(lengths))
    return PreparedCorpus(encoded, vocabulary, vocabulary_stats, tokenizer, stats)


def encode_corpus(
    path: str,
    tokenizer: Tokenizer,
    vocabulary: Vocabulary,
    text_column: str | None = None,
    stats: CorpusStats | None = None,
) -> EncodedSentences:
    """Encode another corpus exactly as a training corpus was (same tokenizer and vocabulary)."""
    ids, lengths, provisional = _interned(read_paragraphs(path, text_column, stats), tokenizer)
    if not lengths:
        raise CorpusError(f"{path} holds no sentences")
    remap = np.array(vocabulary.encode(list(provisional)), dtype=vocabulary.id_dtype)
    return EncodedSentences(remap[np.frombuffer(ids, dtype=np.int32)], _offsets(lengths))
