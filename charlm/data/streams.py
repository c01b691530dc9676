"""Running text: the sentences of each document as one token stream (document context).

A stream lays sentences end to end. Each sentence contributes SENTENCE_START and its words as
inputs, its words and SENTENCE_END as targets, exactly as a sentence on its own does: the same
predicted tokens, so perplexities of either context compare. The recurrent state runs on from
one sentence to the next; it starts from zero where a document begins.

Training cuts the epoch's stream (the documents in an order of the epoch's own) into rows as
even as can be (lengths differ by a token at most), one row per stream a step trains on side by
side, and steps through all rows at once in windows of `--bptt` tokens, the last one shorter,
carrying each row's state from one window to the next. Every position of the stream is predicted
once an epoch; only the last position of a row one token shorter than the others is padding.
Where the cut falls changes every epoch, so a token does not always come at the same place of
its window. With random window lengths (AWD-LSTM's, `--bptt-random`) the windows are drawn from
the epoch's own random numbers too: the same on every rank, the same again when a run resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charlm.data.types import IGNORE, Batch, EncodedSentences, Resets
from charlm.data.vocab import END_ID, START_ID
from charlm.errors import CorpusError

# Held-out validation takes whole documents from a corpus of at least this many (when some make
# up the share); from fewer, the end of every document.
DOCUMENTS_PER_HELD_OUT = 20
# AWD-LSTM's random window length (Merity et al. 2018, awd-lstm-lm's main.py): the window is
# `--bptt` tokens, or half of it with this probability, then drawn from a normal distribution of
# this deviation around that, and never shorter than the minimum (nor than `--bptt` itself).
HALF_WINDOW_PROBABILITY = 0.05
WINDOW_DEVIATION = 5.0
MIN_RANDOM_WINDOW = 5


def sentence_starts(sentences: EncodedSentences) -> np.ndarray:
    """Where each sentence's tokens start in the stream of all the sentences in order; also
    where its predicted tokens start in token_surprisals's result (scoring.py)."""
    return sentences.offsets[:-1] + np.arange(len(sentences))


@dataclass(frozen=True)
class Stream:
    """Sentences laid end to end, in `order`: stream position p holds one input and one target.

    `starts[k]` is where the k-th sentence of the order starts (`starts[-1]`: the stream's
    length); `opens_document[k]` says whether it is the first of its document."""

    sentences: EncodedSentences
    order: np.ndarray
    starts: np.ndarray
    opens_document: np.ndarray

    @classmethod
    def of(cls, sentences: EncodedSentences, document_order: np.ndarray | None = None
           ) -> Stream:
        """The stream of `sentences`, its documents in `document_order` (None: as they are)."""
        documents = sentences.documents
        if document_order is None:
            document_order = np.arange(sentences.document_count)
        firsts, ends = documents[document_order], documents[document_order + 1]
        counts = ends - firsts
        # Each document's sentence indices, the documents in the order given.
        order = np.repeat(firsts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        starts = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(sentences.lengths[order] + 1, out=starts[1:])
        opens = np.zeros(len(order), dtype=bool)
        opens[(np.cumsum(counts) - counts)[counts > 0]] = True
        return cls(sentences, order.astype(np.int64), starts, opens)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def tokens(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The inputs and targets at stream positions (any shape), and whether each position
        opens a document (the state is zeroed before it)."""
        k = np.searchsorted(self.starts, positions, side="right") - 1
        within = positions - self.starts[k]
        sentence = self.order[k]
        offsets, ids = self.sentences.offsets, self.sentences.ids
        word = offsets[sentence] + within
        last = max(len(ids) - 1, 0)
        previous = ids[np.clip(word - 1, 0, last)] if len(ids) else np.zeros_like(word)
        current = ids[np.clip(word, 0, last)] if len(ids) else np.zeros_like(word)
        inputs = np.where(within == 0, START_ID, previous).astype(np.int64)
        targets = np.where(word < offsets[sentence + 1], current, END_ID).astype(np.int64)
        return inputs, targets, (within == 0) & self.opens_document[k]

    def sentence_ends(self, first: np.ndarray, end: np.ndarray) -> int:
        """How many SENTENCE_END targets lie in the stream ranges [first, end)."""
        last_positions = self.starts[1:] - 1
        return int((np.searchsorted(last_positions, end) -
                    np.searchsorted(last_positions, first)).sum())


def stream_batch(stream: Stream, positions: np.ndarray, predicted: np.ndarray | None = None
                 ) -> Batch:
    """The batch of stream positions (rows, time): every position is predicted, but where
    `predicted` (the same shape) is False: padding, its target IGNORE, no document opened."""
    inputs, targets, opens = stream.tokens(positions)
    if predicted is not None:
        targets = np.where(predicted, targets, IGNORE)
        opens &= predicted
    columns = tuple(int(c) for c in np.flatnonzero(opens.any(axis=0)))
    resets = (Resets(torch.from_numpy((~opens).astype(np.float32)), columns) if columns
              else None)
    return Batch(torch.from_numpy(inputs), torch.from_numpy(targets),
                 tokens=int(np.count_nonzero(targets != IGNORE)),
                 sentences=int(np.count_nonzero(targets == END_ID)), resets=resets)


@dataclass(frozen=True)
class StreamEpoch:
    """One epoch of document-context training: the stream read round from position `shift`
    (its end runs on into its start, where a document begins, so nothing is left out), cut into
    `rows` rows for each of `world` ranks, as even as can be: each `length` tokens, the first
    `longer` rows one more. The rows are read side by side in windows, window w from row offset
    `edges[w]` to `edges[w + 1]` (the last edge: the longest row's length); a row one token
    shorter than the longest ends in one padded position. Batch `index` is window index // world
    of rank index % world's rows, so every rank steps through windows of the same length."""

    stream: Stream
    rows: int
    world: int
    edges: np.ndarray
    length: int
    longer: int
    shift: int

    @property
    def longest(self) -> int:
        return self.length + (1 if self.longer else 0)

    @property
    def windows(self) -> int:
        return len(self.edges) - 1

    @property
    def count(self) -> int:
        return self.windows * self.world

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each row starts (read round: positions past the end wrap to the start), and
        its length."""
        row = np.arange(self.rows * self.world)
        return (self.shift + row * self.length + np.minimum(row, self.longer),
                self.length + (row < self.longer))

    def batch(self, index: int) -> Batch:
        window, rank = divmod(index, self.world)
        starts, lengths = (part[rank * self.rows : (rank + 1) * self.rows]
                           for part in self._rows())
        offsets = np.arange(self.edges[window], self.edges[window + 1])
        positions = (starts[:, None] + offsets) % len(self.stream)
        return stream_batch(self.stream, positions, offsets < lengths[:, None])

    def step_totals(self, first: int) -> tuple[int, int]:
        window = first // self.world
        return self._totals(int(self.edges[window]), int(self.edges[window + 1]))

    def sentences_before(self, index: int) -> int:
        return self._totals(0, int(self.edges[index // self.world]))[0]

    def _totals(self, begin: int, end: int) -> tuple[int, int]:
        """The sentences finished and tokens predicted between row offsets [begin, end) of
        every row."""
        starts, lengths = self._rows()
        first, last = starts + np.minimum(begin, lengths), starts + np.minimum(end, lengths)
        size = len(self.stream)
        # A range that runs past the stream's end goes on at its start.
        ends = (self.stream.sentence_ends(np.minimum(first, size), np.minimum(last, size)) +
                self.stream.sentence_ends(np.maximum(first, size) - size,
                                          np.maximum(last, size) - size))
        return ends, int((last - first).sum())


def epoch_shift(rng: np.random.Generator, window: int) -> int:
    """Where an epoch's cut begins: a window's start falls on other tokens each epoch."""
    return int(rng.integers(window))


def fixed_windows(longest: int, window: int) -> np.ndarray:
    """The edges of windows of `window` tokens over rows of at most `longest`, the last one
    shorter."""
    return np.append(np.arange(0, longest, window), longest)


def random_windows(rng: np.random.Generator, longest: int, window: int) -> np.ndarray:
    """The edges of windows of AWD-LSTM's random lengths over rows of at most `longest`, the
    last one cut short at the row's end. As many lengths are drawn as the shortest windows
    could need, so the draw depends on nothing but the epoch's random numbers and the rows."""
    shortest = min(MIN_RANDOM_WINDOW, window)
    count = longest // shortest + 1
    halved = rng.random(count) < HALF_WINDOW_PROBABILITY
    means = np.where(halved, window / 2, window)
    # int() of a draw, as awd-lstm-lm's, rounds towards zero.
    lengths = np.maximum(shortest, rng.normal(means, WINDOW_DEVIATION).astype(np.int64))
    ends = np.cumsum(lengths)
    inside = ends[: np.searchsorted(ends, longest)]
    return np.concatenate([[0], inside, [longest]]).astype(np.int64)


def stream_epoch(sentences: EncodedSentences, rows: int, window: int, seed: int, epoch: int,
                 world: int = 1, random_lengths: bool = False) -> StreamEpoch:
    """Epoch `epoch`'s cut, a function of (seed, epoch) alone: the documents shuffled, the cut
    shifted by up to a window, `rows` rows for each of `world` ranks, together every position of
    the stream once (a stream shorter than a window per row takes shorter windows). The windows
    are `window` tokens, or with `random_lengths` of AWD-LSTM's random lengths around it."""
    rng = np.random.default_rng([seed, epoch])
    stream = Stream.of(sentences, rng.permutation(sentences.document_count))
    every = rows * world
    length, longer = divmod(len(stream), every)
    if length < 1:
        raise CorpusError(f"the training text has {len(stream):,} tokens, fewer than the "
                          f"{every:,} rows a step trains on side by side; lower --batch-size or "
                          "give a longer corpus")
    longest = length + (1 if longer else 0)
    window = min(window, longest)
    shift = epoch_shift(rng, window)
    edges = (random_windows(rng, longest, window) if random_lengths
             else fixed_windows(longest, window))
    return StreamEpoch(stream, rows, world, edges, length, longer, shift)


def held_out_documents(sentences: EncodedSentences, fraction: float, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, str]:
    """Training and validation sentence indices for document context, and how they were
    chosen, at least `fraction` of the sentences (to the nearest sentence) held out: whole
    documents, chosen by the seed, when the corpus has enough of them and some of them make up
    the share (validation is then running text from its start); else the end of every document
    (document_ends), so that every document trains on its beginning."""
    count = sentences.document_count
    sizes = np.diff(sentences.documents)
    goal = max(1, round(fraction * len(sentences)))
    held = (_whole_documents(sizes, goal, seed) if count >= DOCUMENTS_PER_HELD_OUT
            else np.zeros(0, dtype=np.int64))
    if sizes[held].sum() >= goal:
        tails = np.zeros_like(sizes)
        tails[held] = sizes[held]
        how = "whole documents"
    else:
        tails = document_ends(sizes, fraction, goal)
        how = "the end of each document"
    valid = np.concatenate([np.arange(end - tail, end, dtype=np.int64)
                            for end, tail in zip(sentences.documents[1:], tails)])
    if len(valid) == 0 or len(valid) == len(sentences):
        raise CorpusError(f"the corpus has only {len(sentences)} sentence(s) in {count} "
                          "document(s): too few to hold out a validation split; give a longer "
                          "corpus or --valid")
    train = np.setdiff1d(np.arange(len(sentences)), valid, assume_unique=True)
    return train, np.sort(valid), how


def document_ends(sizes: np.ndarray, fraction: float, goal: int) -> np.ndarray:
    """How many sentences to hold out from the end of each document of `sizes`: its `fraction`,
    rounded. Short documents round to none, so while that falls short of `goal` sentences,
    one more from each document in turn, those rounded down most first (the longest first among
    equals); a document gives its first sentence only when no other has more to give."""
    tails = np.round(sizes * fraction).astype(np.int64)
    turns = np.lexsort((-sizes, tails - sizes * fraction))
    for room in (sizes - 1, sizes):
        while tails.sum() < goal and (tails < room).any():
            giving = turns[tails[turns] < room[turns]][: goal - int(tails.sum())]
            tails[giving] += 1
    return tails


def _whole_documents(sizes: np.ndarray, goal: int, seed: int) -> np.ndarray:
    """Documents, in the seed's order, that together hold about `goal` sentences: each taken
    while the goal is not reached and it keeps the total within twice the goal (so one long
    document drawn first does not hold out most of the corpus); none when none fits."""
    held: list[int] = []
    total = 0
    for document in np.random.default_rng(seed).permutation(len(sizes)):
        if total >= goal:
            break
        if total + sizes[document] <= 2 * goal and len(held) < len(sizes) - 1:
            held.append(int(document))
            total += int(sizes[document])
    return np.array(held, dtype=np.int64)
