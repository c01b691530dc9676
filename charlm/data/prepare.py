"""Corpus preparation: read, split, tokenize, count, build the vocabulary and encode to ids.

Words are interned to provisional ids while tokenizing, so the prepared corpus is held as compact
numpy arrays (a flat id array, sentence offsets and document offsets), never as Python lists of
strings. Tokenizing
dominates the cost; it can run in worker processes, each taking chunks of paragraphs and sending
back its chunk as compact arrays, merged in order so the result never depends on the worker count.
"""

from __future__ import annotations

import itertools
import multiprocessing
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from charlm.data.corpus import (
    DOCUMENT_BREAK,
    PARAGRAPHS,
    CorpusStats,
    file_size,
    read_paragraphs,
)
from charlm.data.layout import SplitChoice, choose_split
from charlm.data.settings import PrepareSettings
from charlm.data.tokenizer import Tokenizer, TokenizerSettings, build_tokenizer
from charlm.data.types import EncodedSentences, offsets_of
from charlm.data.vocab import (
    UNKNOWN_ID,
    Vocabulary,
    VocabularyStats,
    build_vocabulary,
    fixed_vocabulary,
)
from charlm.data.word_list import read_word_list
from charlm.data.written import WRITTEN_SAMPLE_CHARS, count_written_forms, most_frequent_forms
from charlm.devices import available_cores
from charlm.errors import CharlmError, CorpusError

PUNKT_SAMPLE_PARAGRAPHS = 20_000
# Bump when a change to reading, tokenizing or encoding changes the prepared result: cached
# corpora prepared by an older version are then never reused.
PREPARE_VERSION = 5  # 5: a byte-order mark is no text; a long line reads as short ones
# Paragraph text per worker task: large enough that sending it costs little next to tokenizing it.
CHUNK_CHARS = 1 << 20
# Over-long sentences that are this share of all or more: the text seems to lack sentence
# boundaries where it was cut, and the warning says what to do.
MANY_DROPPED_SHARE = 0.1
# Below this corpus size, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 2 << 20
# Chunks in flight: enough to keep the workers busy, few enough that reading never runs far
# ahead and holds much of the corpus in memory.
MAX_PENDING_CHUNKS = 8


@dataclass
class PreparedCorpus:
    """A corpus ready to train on, with what preparing it found."""

    sentences: EncodedSentences
    vocabulary: Vocabulary
    vocabulary_stats: VocabularyStats
    tokenizer: Tokenizer
    corpus_stats: CorpusStats = field(default_factory=CorpusStats)
    split_choice: SplitChoice | None = None
    """How the text was cut before sentence splitting, and why (None: as the tokenizer says)."""

    @property
    def split(self) -> SplitChoice:
        return self.split_choice or SplitChoice(self.tokenizer.settings.split,
                                                "as the checkpoint's corpus was read")

    def metadata(self) -> dict[str, Any]:
        """Everything but the id arrays, as JSON values: what the cache stores beside its arrays
        and what rank 0 sends the other ranks."""
        return {
            "prepare_version": PREPARE_VERSION,
            "vocabulary": self.vocabulary.words,
            "written_forms": self.vocabulary.written_forms,
            "vocabulary_stats": asdict(self.vocabulary_stats),
            "tokenizer": self.tokenizer.settings.to_dict(),
            "corpus_stats": asdict(self.corpus_stats),
            "dropped_long": self.tokenizer.dropped_long,
            "longest_dropped": self.tokenizer.longest_dropped,
            "split_choice": self.split.to_dict(),
            "ids_dtype": str(self.sentences.ids.dtype),
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], sentences: EncodedSentences
                      ) -> PreparedCorpus:
        """The inverse of `metadata`; raises KeyError, TypeError or ValueError on a bad one."""
        tokenizer = Tokenizer(TokenizerSettings.from_dict(metadata["tokenizer"]))
        tokenizer.dropped_long = int(metadata.get("dropped_long", 0))
        tokenizer.longest_dropped = int(metadata.get("longest_dropped", 0))
        choice = metadata.get("split_choice")
        vocabulary = Vocabulary(metadata["vocabulary"], metadata.get("written_forms"))
        return cls(sentences, vocabulary,
                   VocabularyStats(**metadata["vocabulary_stats"]), tokenizer,
                   CorpusStats.from_dict(metadata.get("corpus_stats", {})),
                   SplitChoice(**choice) if choice else None)


# A chunk's words in order of first appearance, its ids into that list (int32 bytes), its
# sentence lengths (int64 bytes), how many over-long sentences it dropped and the longest of them,
# the written forms of its words counted (written.py; empty unless asked), and where its
# documents end (int64 bytes: the count of its sentences before each DOCUMENT_BREAK): compact to
# send back from a worker process.
ChunkResult = tuple[list[str], bytes, bytes, int, int, Counter[tuple[str, str]], bytes]

_worker_tokenizer: tuple[dict[str, Any], Tokenizer] | None = None


def _tokenizer_for(settings: dict[str, Any] | None) -> Tokenizer | None:
    """The worker's tokenizer, built once per distinct settings (None: only warm up)."""
    global _worker_tokenizer
    if settings is None:
        return None
    if _worker_tokenizer is None or _worker_tokenizer[0] != settings:
        _worker_tokenizer = (settings, Tokenizer(TokenizerSettings.from_dict(settings)))
    return _worker_tokenizer[1]


def tokenize_chunk(settings: dict[str, Any], paragraphs: list[str],
                   count_forms: bool = False) -> ChunkResult:
    """Tokenize paragraphs, interning words to chunk-local ids (and, when `count_forms`,
    counting their written forms)."""
    tokenizer = _tokenizer_for(settings)
    assert tokenizer is not None
    dropped_before = tokenizer.dropped_long
    tokenizer.longest_dropped = 0
    local: dict[str, int] = {}
    ids = array("i")
    lengths = array("q")
    document_ends = array("q")
    forms: Counter[tuple[str, str]] = Counter()
    for paragraph in paragraphs:
        if paragraph == DOCUMENT_BREAK:
            document_ends.append(len(lengths))
            continue
        for written, words in tokenizer.split(paragraph, as_written=count_forms):
            ids.extend([local.setdefault(w, len(local)) for w in words])
            lengths.append(len(words))
            if count_forms:
                count_written_forms(forms, written, words, tokenizer.words)
    return (list(local), ids.tobytes(), lengths.tobytes(), tokenizer.dropped_long - dropped_before,
            tokenizer.longest_dropped, forms, document_ends.tobytes())


class _Interner:
    """Merges chunk results, in corpus order, into corpus-wide provisional ids."""

    def __init__(self) -> None:
        self.provisional: dict[str, int] = {}
        self.ids = array("i")
        self.lengths = array("q")
        self.document_ends = array("q")
        self.dropped_long = 0
        self.longest_dropped = 0
        self.written_forms: Counter[tuple[str, str]] = Counter()

    def add(self, result: ChunkResult) -> None:
        words, ids, lengths, dropped_long, longest_dropped, forms, document_ends = result
        before = len(self.lengths)
        self.document_ends.extend(before + end for end in array("q", document_ends))
        self.written_forms.update(forms)
        self.dropped_long += dropped_long
        self.longest_dropped = max(self.longest_dropped, longest_dropped)
        provisional = self.provisional
        remap = np.fromiter(
            (provisional.setdefault(w, len(provisional)) for w in words), dtype=np.int32,
            count=len(words),
        )
        self.ids.frombytes(remap[np.frombuffer(ids, dtype=np.int32)].tobytes())
        self.lengths.frombytes(lengths)

    def documents(self) -> np.ndarray:
        """Document offsets over the sentences merged (EncodedSentences.documents): a document
        left with no sentence is none."""
        ends = np.frombuffer(self.document_ends, dtype=np.int64)
        return np.unique(np.concatenate([[0], ends, [len(self.lengths)]])).astype(np.int64)


def _chunks(paragraphs: Iterable[str], chunk_chars: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for paragraph in paragraphs:
        chunk.append(paragraph)
        size += len(paragraph)
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _sampled_chunks(paragraphs: Iterable[str], sample_chars: int
                    ) -> Iterator[tuple[list[str], bool]]:
    """The chunks, each with whether it starts within the first `sample_chars` characters: the
    same chunks and the same answer whatever the number of workers."""
    read = 0
    for chunk in _chunks(paragraphs, CHUNK_CHARS):
        yield chunk, read < sample_chars
        read += sum(map(len, chunk))


def choose_workers(workers: int, path: str) -> int:
    """The worker processes to use: `workers`, or when 0 an automatic choice for this corpus: one
    (this process) below PARALLEL_MIN_BYTES, else one per core available, but no more than the
    corpus has chunks to tokenize (a worker without one costs its start-up alone)."""
    if workers > 0:
        return workers
    size = file_size(path)
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(available_cores(), -(-size // CHUNK_CHARS)))


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """Tokenizer worker processes (None for one: tokenize in this process).

    The workers are started at once, so their start-up overlaps the Punkt training that comes
    before tokenizing. Spawned, not forked: forking a process that may already run torch or gloo
    threads is unsafe. An executor, not a Pool: a worker that dies makes it fail, not hang.
    """
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for _ in range(workers):
            pool.submit(_tokenizer_for, None)
        yield pool


def _interned(
    paragraphs: Iterable[str], tokenizer: Tokenizer, pool: ProcessPoolExecutor | None,
    forms_sample: int = 0,
) -> _Interner:
    """Tokenize, mapping each distinct word to a provisional id in order of first appearance,
    and count written forms in the chunks that start within the first `forms_sample`
    characters; the tokenizer's counts of dropped sentences grow by this read's."""
    interner = _Interner()
    settings = tokenizer.settings.to_dict()
    chunks = _sampled_chunks(paragraphs, forms_sample)
    if pool is None:
        for chunk, sampled in chunks:
            interner.add(tokenize_chunk(settings, chunk, sampled))
    else:
        try:
            pending: deque[Any] = deque()
            for chunk, sampled in chunks:
                pending.append(pool.submit(tokenize_chunk, settings, chunk, sampled))
                while len(pending) >= MAX_PENDING_CHUNKS:
                    interner.add(pending.popleft().result())
            while pending:
                interner.add(pending.popleft().result())
        except BrokenProcessPool:
            raise CharlmError("a tokenizer worker process stopped unexpectedly; run again with "
                              "--workers 1 to tokenize in this process") from None
    tokenizer.dropped_long += interner.dropped_long
    tokenizer.longest_dropped = max(tokenizer.longest_dropped, interner.longest_dropped)
    return interner


def prepare_corpus(path: str, settings: PrepareSettings, workers: int = 1) -> PreparedCorpus:
    """Turn a corpus file into encoded sentences, a vocabulary and the tokenizer that made them.

    `workers` processes tokenize (0: choose automatically); the result is the same for any count.
    A word list (`settings.vocabulary`) is read first, so a bad one is refused before any text.
    """
    word_list = read_word_list(settings.vocabulary) if settings.vocabulary is not None else None
    choice = choose_split(path, settings.split, settings.text_column)
    settings = replace(settings, split=choice.mode)
    stats = CorpusStats()
    with worker_pool(choose_workers(workers, path)) as pool:
        sample = itertools.islice(read_paragraphs(path, settings.text_column, split=choice.mode),
                                  PUNKT_SAMPLE_PARAGRAPHS)
        tokenizer = build_tokenizer(sample, settings)
        # Text read as written needs no written forms: its words are as written.
        interned = _interned(
            read_paragraphs(path, settings.text_column, stats, choice.mode, breaks=True),
            tokenizer, pool, WRITTEN_SAMPLE_CHARS if settings.lowercase else 0,
        )
    if not interned.lengths:
        raise no_sentences_error(path, interned, settings.max_words, choice.mode, "to train on")
    ids, lengths, forms = interned.ids, interned.lengths, interned.written_forms
    documents = interned.documents()
    words = list(interned.provisional)
    del interned
    counts_array = np.bincount(np.frombuffer(ids, dtype=np.int32), minlength=len(words))
    counts = Counter(dict(zip(words, counts_array.tolist())))
    vocabulary, vocabulary_stats = (build_vocabulary(counts, settings.vocabulary_size)
                                    if word_list is None
                                    else fixed_vocabulary(counts, word_list.words))
    del counts
    if settings.lowercase:
        vocabulary = Vocabulary(vocabulary.words, most_frequent_forms(forms, vocabulary.words))
    remap = np.array(vocabulary.encode(words), dtype=vocabulary.id_dtype)
    encoded = EncodedSentences(remap[np.frombuffer(ids, dtype=np.int32)], offsets_of(lengths),
                               documents)
    return PreparedCorpus(encoded, vocabulary, vocabulary_stats, tokenizer, stats, choice)


def encode_corpus(
    path: str,
    tokenizer: Tokenizer,
    vocabulary: Vocabulary,
    text_column: str | None = None,
    stats: CorpusStats | None = None,
    workers: int = 1,
) -> EncodedSentences:
    """Encode another corpus exactly as a training corpus was (same tokenizer and vocabulary,
    text cut with the tokenizer's split)."""
    return encode_counting_unknown(path, tokenizer, vocabulary, text_column, stats, workers)[0]


def encode_counting_unknown(
    path: str,
    tokenizer: Tokenizer,
    vocabulary: Vocabulary,
    text_column: str | None = None,
    stats: CorpusStats | None = None,
    workers: int = 1,
) -> tuple[EncodedSentences, Counter[str]]:
    """As `encode_corpus`, and how often each word outside the vocabulary occurs."""
    with worker_pool(choose_workers(workers, path)) as pool:
        interned = _interned(
            read_paragraphs(path, text_column, stats, tokenizer.settings.split, breaks=True),
            tokenizer, pool,
        )
    settings = tokenizer.settings
    if not interned.lengths:
        raise no_sentences_error(path, interned, settings.max_words, settings.split, "",
                                 longer="train with a larger --max-sentence-words")
    words = list(interned.provisional)
    remap = np.array(vocabulary.encode(words), dtype=vocabulary.id_dtype)
    provisional_ids = np.frombuffer(interned.ids, dtype=np.int32)
    counts = np.bincount(provisional_ids, minlength=len(words))
    unknown = Counter({words[i]: int(counts[i]) for i in np.flatnonzero(remap == UNKNOWN_ID)})
    encoded = EncodedSentences(remap[provisional_ids], offsets_of(interned.lengths),
                               interned.documents())
    return encoded, unknown


def over_long_sentences(dropped: int, max_words: int, longest: int, fate: str) -> str:
    """The one wording of sentences left out for having more than --max-sentence-words words:
    how many, the limit, what became of them (`fate`: "dropped", "not scored") and the longest."""
    return (f"{dropped:,} sentences longer than --max-sentence-words={max_words} words were "
            f"{fate} (the longest has {longest:,})")


def split_advice(split: str, longer: str = "raise --max-sentence-words") -> str:
    """What to try when a text cut with `split` yields over-long sentences; `longer` says how to
    allow longer sentences."""
    if split == PARAGRAPHS:
        return f"if each line is a sentence, use --split lines (or one-per-line); else {longer}"
    return f"{longer}, or check that the text has sentence punctuation"


def no_sentences_error(path: str, read: _Interner, max_words: int, split: str, purpose: str,
                       longer: str = "raise --max-sentence-words") -> CorpusError:
    """Why reading a corpus (`read`) yielded no sentence at all, in words, with what to do."""
    holds = f"{path} holds no sentences" + (f" {purpose}" if purpose else "")
    if not read.dropped_long:
        return CorpusError(f"{holds}: it is empty or every sentence was filtered out (see "
                           "--min-chars, --drop-urls and --max-sentence-words)")
    dropped = over_long_sentences(read.dropped_long, max_words, read.longest_dropped, "dropped")
    return CorpusError(
        f"{holds}: {dropped} and no other sentence was left, so the text seems to have no "
        f"sentence boundaries when read as {split}; {split_advice(split, longer)}"
    )


def dropped_warning(corpus: PreparedCorpus) -> str | None:
    """The warning for sentences dropped as over-long: a count, and when they are many, why and
    what to do."""
    tokenizer = corpus.tokenizer
    dropped = tokenizer.dropped_long
    if not dropped:
        return None
    counted = over_long_sentences(dropped, tokenizer.settings.max_words,
                                  tokenizer.longest_dropped, "dropped")
    total = dropped + len(corpus.sentences)
    if dropped < MANY_DROPPED_SHARE * total:
        return counted
    return (f"{counted}: {dropped / total:.0%} of all sentences, so the text seems to lack "
            f"sentence boundaries when read as {tokenizer.settings.split}; "
            f"{split_advice(tokenizer.settings.split)}")
