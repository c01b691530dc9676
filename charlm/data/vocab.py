"""The vocabulary: the most frequent words, or a word list's, plus the tutorial's special tokens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from charlm.data.settings import MAX_VOCABULARY
from charlm.errors import CorpusError

UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
SPECIAL_TOKENS = (UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END)
UNKNOWN_ID, START_ID, END_ID = 0, 1, 2


@dataclass(frozen=True)
class VocabularyStats:
    """What building the vocabulary found, as the tutorial printed and more."""

    tokens: int
    unique_words: int
    size: int
    least_frequent_word: str | None
    least_frequent_count: int
    coverage: float


class Vocabulary:
    """Words ↔ ids. Ids 0, 1, 2 are UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END.

    `written_forms`, in id order, are the words as the corpus mostly writes them ("darcy" is
    "Darcy"): each is its word or lowercases to it. None: the words are as written (text not
    lowercased, or a checkpoint from before written forms)."""

    def __init__(self, words: Sequence[str], written_forms: Sequence[str] | None = None) -> None:
        if tuple(words[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError("a vocabulary starts with the special tokens")
        self.words = list(words)
        self.index = {word: i for i, word in enumerate(self.words)}
        self.written_forms = None if written_forms is None else list(written_forms)
        if self.written_forms is not None and (
            len(self.written_forms) != len(self.words)
            or any(form != word and form.lower() != word
                   for word, form in zip(self.words, self.written_forms))):
            raise ValueError("the written forms are not one form of each word")
        self._written = {word: form for word, form in zip(self.words, self.written_forms or ())
                         if form != word}

    def __len__(self) -> int:
        return len(self.words)

    @property
    def id_dtype(self) -> type:
        """The smallest numpy integer type that holds every id."""
        return np.uint16 if len(self) <= np.iinfo(np.uint16).max + 1 else np.int32

    def encode(self, words: Iterable[str]) -> list[int]:
        index = self.index
        return [index.get(word, UNKNOWN_ID) for word in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[i] for i in ids]

    def as_written(self, words: Iterable[str]) -> list[str]:
        """The words in their written forms; a word outside the vocabulary as it is."""
        written = self._written
        return [written.get(word, word) for word in words]

    @property
    def written(self) -> list[str]:
        """Every word's written form, in id order."""
        return self.written_forms if self.written_forms is not None else list(self.words)


def build_vocabulary(counts: Counter[str], size: int) -> tuple[Vocabulary, VocabularyStats]:
    """Keep the `size - 3` most frequent words (`size` 0: every word, up to MAX_VOCABULARY);
    ties go to the alphabetically first word."""
    ranked = _ranked((word, n) for word, n in counts.items() if word not in SPECIAL_TOKENS)
    if not size and len(ranked) + len(SPECIAL_TOKENS) > MAX_VOCABULARY:
        raise CorpusError(too_many_words(ranked, sum(counts.values()), len(counts)))
    return _kept(ranked[: size - len(SPECIAL_TOKENS)] if size else ranked, counts)


def fixed_vocabulary(counts: Counter[str], words: Iterable[str]) -> tuple[Vocabulary,
                                                                          VocabularyStats]:
    """Keep every one of `words` (a word list's: word_list.py), the corpus's `counts` holding
    it or not, numbered as build_vocabulary numbers them: the most frequent first, ties (the
    words the corpus lacks among them) to the alphabetically first."""
    return _kept(_ranked((word, counts[word]) for word in words), counts)


def _ranked(counted: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Words with their counts, the most frequent first, ties alphabetical."""
    return sorted(counted, key=lambda item: (-item[1], item[0]))


def _kept(kept: list[tuple[str, int]], counts: Counter[str]) -> tuple[Vocabulary,
                                                                      VocabularyStats]:
    """The vocabulary of the special tokens and the words `kept` (ranked, with their counts in
    the corpus of `counts`), and what it covers."""
    total = sum(counts.values())
    covered = sum(n for _, n in kept)
    least_word, least_count = kept[-1] if kept else (None, 0)
    stats = VocabularyStats(
        tokens=total,
        unique_words=len(counts),
        size=len(kept) + len(SPECIAL_TOKENS),
        least_frequent_word=least_word,
        least_frequent_count=least_count,
        coverage=covered / total if total else 0.0,
    )
    return Vocabulary([*SPECIAL_TOKENS, *(word for word, _ in kept)]), stats


def too_many_words(ranked: list[tuple[str, int]], total: int, distinct: int) -> str:
    """Why every word of a corpus cannot be kept, and the largest size that can be."""
    bound = MAX_VOCABULARY
    covered = sum(n for _, n in ranked[: bound - len(SPECIAL_TOKENS)])
    return (f"--vocabulary-size 0 keeps every word, and the corpus has {distinct:,} distinct "
            f"words, more than a vocabulary of at most {bound:,} holds (the special tokens "
            f"included): give --vocabulary-size {bound} or less (a vocabulary of {bound:,} "
            f"covers {covered / total:.1%} of the tokens), and --softmax adaptive, far faster "
            "for a large vocabulary")
