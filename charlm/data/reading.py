"""Text read to be scored, as a model's training text was read: files in any format `train` reads,
standard input, a text or sentences given, cut into sentences and tokenized with the model's
tokenizer and encoded with its vocabulary. What reading finds wrong is kept as warnings, one line
each, worded the same whichever way the text came."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from charlm.data.corpus import (
    AUTO,
    DOCUMENT_BREAK,
    ONE_PER_LINE,
    CorpusStats,
    column_for,
    corpus_files,
    is_csv,
    read_lines,
    read_paragraphs,
    stdin_lines,
    units_from_lines,
)
from charlm.data.layout import choose_split
from charlm.data.prepare import encode_corpus, over_long_sentences, split_advice
from charlm.data.tokenizer import Tokenizer
from charlm.data.types import EncodedSentences, offsets_of
from charlm.data.vocab import UNKNOWN_ID, Vocabulary
from charlm.data.word_tokenizer import word_tokenizer_warning
from charlm.errors import CharlmError, CorpusError

STDIN = "-"


@dataclass
class FileReader:
    """A file and how to read it: its CSV column and the tokenizer (with its split)."""

    path: str
    text_column: str | None
    tokenizer: Tokenizer

    def sentences(self) -> Iterator[list[str]]:
        """The file's sentences as words, read exactly as it was encoded."""
        split = self.tokenizer.settings.split
        for paragraph in read_paragraphs(self.path, self.text_column, split=split):
            yield from self.tokenizer.tokenize(paragraph)


@dataclass
class ReadText:
    """Text read to be scored: its sentences encoded in reading order, and how it was read."""

    names: list[str]
    """What was read, as a summary names it: each file, standard input, or the text given."""
    sentences: EncodedSentences
    splits: list[str]
    """How each input's text was cut (nothing for text or sentences given)."""
    warnings: list[str]
    """What reading found wrong, one line each."""
    texts: list[str] = field(default_factory=list)
    """Each sentence's text, where the text was read sentence by sentence (files evaluated
    whole keep none)."""
    words: list[list[str]] = field(default_factory=list)
    """Each sentence's words, beside its text."""
    readers: list[FileReader] = field(default_factory=list)
    """How each file evaluated whole was read, to read it again."""


def input_name(name: str) -> str:
    """An input as messages and summaries name it."""
    return "standard input" if name == STDIN else name


def tokenizer_for(tokenizer: Tokenizer, path: str, split: str | None,
                  text_column: str | None) -> Tokenizer:
    """A tokenizer of one reading's own (its counts of dropped sentences are that reading's),
    with `tokenizer`'s settings, cutting text with `split` (None: as `tokenizer` does)."""
    mode = (tokenizer.settings.split if split is None
            else choose_split(path, split, column_for(path, text_column)).mode)
    return Tokenizer(replace(tokenizer.settings, split=mode))


def text_sentences(tokenizer: Tokenizer, text: str) -> list[tuple[str, list[str]]]:
    """The sentences of `text`, each as its text (normalised) and its words."""
    units = units_from_lines(text.splitlines(keepends=True), tokenizer.settings.split)
    return [sentence for unit in units for sentence in tokenizer.split(unit)]


def read_files(files: Sequence[str], tokenizer: Tokenizer, vocabulary: Vocabulary,
               text_column: str | None, split: str | None) -> ReadText:
    """Files encoded as a training corpus is (`tokenizer`'s settings; its split unless `split`
    says otherwise), each read whole, keeping no sentence's text: a corpus of any size."""
    if text_column is not None and not any(column_for(f, text_column) for f in files):
        raise CorpusError("--text-column applies only to CSV files (.csv); drop it for text "
                          "files")
    readers = [FileReader(f, column_for(f, text_column),
                          tokenizer_for(tokenizer, f, split, text_column)) for f in files]
    stats = CorpusStats()
    parts = [encode_corpus(r.path, r.tokenizer, vocabulary, r.text_column, stats)
             for r in readers]
    tokenizers = [r.tokenizer for r in readers]
    return ReadText(list(files), EncodedSentences.concatenate(parts),
                    [t.settings.split for t in tokenizers], reading_warnings(stats, tokenizers),
                    readers=readers)


def read_inputs(inputs: Sequence[str], tokenizer: Tokenizer, vocabulary: Vocabulary,
                vocabulary_of: str, one_per_line: bool, text_column: str | None,
                split: str | None, as_written: bool) -> ReadText:
    """Every sentence of files ("-": standard input), split and tokenized as training text
    (`tokenizer`'s split unless `split` says otherwise), or each line one sentence exactly as
    given (`one_per_line`); each sentence's text kept (as the input writes it when
    `as_written`), and each file, or CSV row, a document. Refused as `encode_sentences`
    refuses."""
    if split == AUTO and STDIN in inputs:
        raise CorpusError("--split auto chooses from a look at a file's text, and standard "
                          "input can be read only once: give --split paragraphs or lines")
    tokenizers = [tokenizer_for(tokenizer, name, None if one_per_line else split, text_column)
                  for name in inputs]
    stats = CorpusStats()
    texts: list[str] = []
    words: list[list[str]] = []
    documents: list[tuple[int, int]] = []
    for number, (name, reader) in enumerate(zip(inputs, tokenizers)):
        for text, sentence, document in read_sentences([name], reader, one_per_line,
                                                       text_column, stats, as_written):
            texts.append(text)
            words.append(sentence)
            documents.append((number, document))
    encoded = encode_sentences(texts, words, [input_name(name) for name in inputs], vocabulary,
                               vocabulary_of, document_offsets(documents))
    splits = [ONE_PER_LINE if one_per_line else t.settings.split for t in tokenizers]
    return replace(encoded, splits=splits, warnings=reading_warnings(stats, tokenizers))


def encode_sentences(texts: list[str], words: list[list[str]], names: list[str],
                     vocabulary: Vocabulary, vocabulary_of: str,
                     documents: np.ndarray | None = None) -> ReadText:
    """Sentences given as texts and their words, in reading order, encoded (`documents`: their
    documents' offsets, as EncodedSentences keeps them; None: one document). Refused when there
    is no sentence, or no word that the vocabulary (`vocabulary_of`: whose it is) knows."""
    where = ", ".join(names)
    if not texts:
        raise CorpusError(f"{where}: no sentences to score; give text with at least one "
                          "sentence")
    ids = np.array([i for sentence in words for i in vocabulary.encode(sentence)],
                   dtype=vocabulary.id_dtype)
    if len(ids) and not np.any(ids != UNKNOWN_ID):
        examples = " ".join(vocabulary.words[3:8])
        raise CharlmError(f"none of the {len(ids):,} words in {where} is in the vocabulary "
                          f"of {vocabulary_of} ({len(vocabulary):,} words, e.g. {examples}); "
                          "score text in the language the model was trained on")
    lengths = np.array([len(sentence) for sentence in words], dtype=np.int64)
    sentences = EncodedSentences(ids, offsets_of(lengths), documents)
    return ReadText(list(names), sentences, [], [], texts, words)


def read_sentences(inputs: Sequence[str], tokenizer: Tokenizer, one_per_line: bool,
                   text_column: str | None, stats: CorpusStats | None = None,
                   as_written: bool = False) -> Iterator[tuple[str, list[str], int]]:
    """(text, words, document) of every sentence of every input, in order; the text as the
    input writes it (always so for one per line), or, unless `as_written`, normalised; the
    document counted from 0 (a file, a CSV row: with one per line, each CSV row's line). What
    reading finds wrong goes into `stats`."""
    document = 0
    for name in inputs:
        column = None if name == STDIN else column_for(name, text_column)
        if one_per_line:
            for file in [name] if name == STDIN else [str(f) for f in corpus_files(name)]:
                lines = ((line.rstrip("\r\n") for line in stdin_lines()) if file == STDIN
                         else read_lines(file, column_for(file, text_column), stats))
                row_each = file != STDIN and is_csv(Path(file))
                for line in lines:
                    yield line, tokenizer.prompt_words(line), document
                    document += row_each
                document += not row_each
            continue
        split = tokenizer.settings.split
        paragraphs = (units_from_lines(stdin_lines(), split) if name == STDIN
                      else read_paragraphs(name, column, stats, split, breaks=True))
        for paragraph in paragraphs:
            if paragraph == DOCUMENT_BREAK:
                document += 1
                continue
            for text, words in tokenizer.split(paragraph, as_written):
                yield text, words, document
        document += name == STDIN


def document_offsets(documents: Sequence[tuple[int, int]]) -> np.ndarray:
    """Document offsets (EncodedSentences.documents) of sentences in reading order, each
    labelled with its document (its input's number and its document's within the input)."""
    firsts = [i for i, label in enumerate(documents) if i == 0 or label != documents[i - 1]]
    return np.array([*firsts, len(documents)], dtype=np.int64)


def reading_warnings(stats: CorpusStats, tokenizers: Sequence[Tokenizer]) -> list[str]:
    """What reading found wrong, one line each: the corpus's problems, the over-long sentences
    each tokenizer left out, and a word tokenizer other than the one charlm knows."""
    warnings = stats.warnings() + [not_scored(tokenizer) for tokenizer in tokenizers
                                   if tokenizer.dropped_long]
    tokenizer_warning = word_tokenizer_warning()
    if tokenizer_warning:
        warnings.append(tokenizer_warning)
    return warnings


def not_scored(tokenizer: Tokenizer) -> str:
    """The over-long sentences a tokenizer left out of a scoring, and what to do."""
    settings = tokenizer.settings
    dropped = over_long_sentences(tokenizer.dropped_long, settings.max_words,
                                  tokenizer.longest_dropped, "not scored")
    advice = split_advice(settings.split, "train with a larger --max-sentence-words")
    return f"{dropped}, text read as {settings.split}; {advice}"
