"""Per-token scores in the layout of SRILM's `ngram -ppl FILE -debug 2`, which the toolkits'
scripts read (SRILM's compute-best-mix and ppl-from-log, rescoring scripts built on them): each
sentence's words on a line, a line for each predicted token, the sentence's summary and a blank
line; then the file's summary.

A token's line is `\\tp( WORD | PREVIOUS ...) \\t= [rnn] P [ LOG10P ]`, the history shown by its
last word as SRILM shows it (`<s>` before the first word, without " ..."). `[rnn]` stands where
SRILM names the n-gram order that gave the probability, one field as there, so the fields the
scripts read stay in place (the tenth is the log10-probability). A word outside the vocabulary is
an OOV, shown as SRILM shows one: `p( <unk> | ...) = [OOV] 0 [ -inf ]`, left out of logprob, ppl
and ppl1 (the sentence line above it shows the word itself); the model reads it as
UNKNOWN_TOKEN, as the history of the words after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from charlm.data.reading import FileReader
from charlm.data.vocab import UNKNOWN_ID
from charlm.evaluation.scoring import LN10, SrilmFigures
from charlm.evaluation.text import Scoring

MODEL_LABEL = "[rnn]"
OOV_LINE = "[OOV] 0 [ -inf ]"
SENTENCE_START, SENTENCE_END, OOV_WORD = "<s>", "</s>", "<unk>"


def srilm_lines(evaluated: Scoring) -> Iterator[str]:
    """Every line of the layout, each ending in a newline, for the files evaluated whole, in
    order: the summary of each file after its sentences, as `ngram -ppl` run on each prints it."""
    ids, offsets, surprisal = (evaluated.sentences.ids, evaluated.sentences.offsets,
                               evaluated.surprisal)
    current: FileReader | None = None
    totals = np.zeros(4)  # the sentences, words, OOVs and known nats of the file so far
    for reader, index, words in evaluated.sentences_again():
        if reader is not current:
            if current is not None:
                yield from file_summary(current.path, totals)
            current, totals = reader, np.zeros(4)
        first = int(offsets[index])
        known = np.append(ids[first : first + len(words)] != UNKNOWN_ID, True)
        nats = surprisal[first + index : first + index + len(words) + 1]
        yield from sentence_lines(words, known, nats)
        totals += (1, len(words), np.count_nonzero(~known), float(nats[known].sum()))
    if current is not None:
        yield from file_summary(current.path, totals)


def sentence_lines(words: Sequence[str], known: np.ndarray, nats: np.ndarray) -> Iterator[str]:
    """A sentence's lines: its words, each predicted token (its words, then the sentence end:
    `known` says which are in the vocabulary, `nats` their surprisals), its summary, a blank
    line."""
    yield " ".join(words) + "\n"
    shown = [word if is_known else OOV_WORD for word, is_known in zip(words, known)]
    for position, word in enumerate([*shown, SENTENCE_END]):
        previous = shown[position - 1] if position else SENTENCE_START
        history = f"{previous} ...)" if position else f"{previous} )"
        yield f"\tp( {word} | {history} \t= {probability(nats[position], known[position])}\n"
    figures = SrilmFigures.of(1, len(words), int(np.count_nonzero(~known)),
                              float(nats[known].sum()))
    yield from (line + "\n" for line in figures.lines())
    yield "\n"


def probability(nats: float, known: bool) -> str:
    """A token's probability and its log10 as SRILM prints them, or an OOV's none."""
    if not known:
        return OOV_LINE
    return f"{MODEL_LABEL} {math.exp(-nats):g} [ {-nats / LN10:g} ]"


def file_summary(path: str, totals: np.ndarray) -> Iterator[str]:
    """A file's summary: `file PATH: ` and SRILM's two lines of its figures."""
    sentences, words, oovs, nats = totals
    lines = SrilmFigures.of(int(sentences), int(words), int(oovs), float(nats)).lines()
    yield f"file {path}: {lines[0]}\n"
    yield f"{lines[1]}\n"
