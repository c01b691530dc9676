"""Running text: the sentences of each document as one token stream (document context).

A stream lays sentences end to end. Each sentence contributes SENTENCE_START and its words as
inputs, its words and SENTENCE_END as targets, exactly as a sentence on its own does: the same
predicted tokens, so perplexities of either context compare. The recurrent state runs on from
one sentence to the next; it starts from zero where a document begins.

Training cuts the epoch's stream (the documents in an order of the epoch's own) into rows of
equal length, one row per stream a step trains on side by side, and steps through all rows at
once in windows of `--bptt` tokens, carrying each row's state from one window to the next. No
position is padding. Where the cut falls changes every epoch, so a token does not always come
at the same place of its window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from charlm.data.batches import Batch
from charlm.data.prepare import EncodedSentences
from charlm.data.vocab import END_ID, START_ID
from charlm.errors import CorpusError

# Held-out validation takes whole documents from a corpus of at least this many; from fewer, the
# end of every document.
DOCUMENTS_PER_HELD_OUT = 20


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


@dataclass(frozen=True)
class Resets:
    """Where documents begin inside a batch of stream windows: the state of a row is zeroed
    before each position that opens a document."""

    keep: torch.Tensor
    """(rows, time) float: 0 before the positions that open a document, 1 elsewhere."""
    columns: tuple[int, ...]
    """The time steps at which some row opens a document, in order (known on the host)."""

    def to(self, device: torch.device) -> Resets:
        return self.moved(lambda keep: keep.to(device, non_blocking=True))

    def moved(self, move: Callable[[torch.Tensor], torch.Tensor]) -> Resets:
        """The same resets, `keep` moved by `move` (a runtime's copy to its device)."""
        return Resets(move(self.keep), self.columns)


def stream_batch(stream: Stream, positions: np.ndarray) -> Batch:
    """The batch of stream positions (rows, time): every position is predicted."""
    inputs, targets, opens = stream.tokens(positions)
    columns = tuple(int(c) for c in np.flatnonzero(opens.any(axis=0)))
    resets = (Resets(torch.from_numpy((~opens).astype(np.float32)), columns) if columns
              else None)
    return Batch(torch.from_numpy(inputs), torch.from_numpy(targets), tokens=positions.size,
                 sentences=int(np.count_nonzero(targets == END_ID)), resets=resets)


@dataclass(frozen=True)
class StreamEpoch:
    """One epoch of document-context training: the stream, from position `shift` on, cut into
    `rows` rows for each of `world` ranks, each row `windows` windows of `window` tokens. Batch
    `index` is window index // world of rank index % world's rows."""

    stream: Stream
    rows: int
    world: int
    window: int
    windows: int
    shift: int

    @property
    def count(self) -> int:
        return self.windows * self.world

    @property
    def row_length(self) -> int:
        return self.window * self.windows

    def _row_starts(self) -> np.ndarray:
        return self.shift + self.row_length * np.arange(self.rows * self.world)

    def batch(self, index: int) -> Batch:
        window, rank = divmod(index, self.world)
        starts = self._row_starts()[rank * self.rows : (rank + 1) * self.rows]
        positions = (starts + window * self.window)[:, None] + np.arange(self.window)
        return stream_batch(self.stream, positions)

    def step_totals(self, first: int) -> tuple[int, int]:
        starts = self._row_starts() + first // self.world * self.window
        return (self.stream.sentence_ends(starts, starts + self.window),
                len(starts) * self.window)

    def sentences_before(self, index: int) -> int:
        starts = self._row_starts()
        return self.stream.sentence_ends(starts, starts + index // self.world * self.window)


def epoch_shift(rng: np.random.Generator, window: int) -> int:
    """Where an epoch's cut begins: a window's start falls on other tokens each epoch."""
    return int(rng.integers(window))


def stream_epoch(sentences: EncodedSentences, rows: int, window: int, seed: int, epoch: int,
                 world: int = 1) -> StreamEpoch:
    """Epoch `epoch`'s cut, a function of (seed, epoch) alone: the documents shuffled, the cut
    shifted by up to a window, `rows` rows for each of `world` ranks, each a whole number of
    windows (a stream shorter than a window per row takes shorter windows). The few tokens
    left over fall elsewhere the next epoch."""
    rng = np.random.default_rng([seed, epoch])
    stream = Stream.of(sentences, rng.permutation(sentences.document_count))
    every = rows * world
    shift = epoch_shift(rng, window) if len(stream) >= (every + 1) * window else 0
    per_row = (len(stream) - shift) // every
    if per_row < 1:
        raise CorpusError(f"the training text has {len(stream):,} tokens, fewer than the "
                          f"{every:,} rows a step trains on side by side; lower --batch-size or "
                          "give a longer corpus")
    if per_row < window:
        return StreamEpoch(stream, rows, world, per_row, 1, shift)
    return StreamEpoch(stream, rows, world, window, per_row // window, shift)


def held_out_documents(sentences: EncodedSentences, fraction: float, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, str]:
    """Training and validation sentence indices for document context, and how they were
    chosen, about `fraction` of the sentences held out: whole documents, chosen by the seed,
    when the corpus has enough of them (validation is then running text from its start); else
    the end of every document, its last `fraction` of sentences, so that every document trains
    on its beginning (when no document is long enough to give one, the last sentence of the
    longest)."""
    count = sentences.document_count
    sizes = np.diff(sentences.documents)
    goal = max(1, round(fraction * len(sentences)))
    held = (_whole_documents(sizes, goal, seed) if count >= DOCUMENTS_PER_HELD_OUT
            else np.zeros(0, dtype=np.int64))
    if len(held):
        valid = np.concatenate([np.arange(sentences.documents[d], sentences.documents[d + 1])
                                for d in np.sort(held)])
        how = "whole documents"
    else:
        tails = np.round(sizes * fraction).astype(np.int64)
        if not tails.any():
            tails[np.argmax(sizes)] = 1
        valid = np.concatenate([np.arange(end - tail, end)
                                for end, tail in zip(sentences.documents[1:], tails)])
        how = "the end of each document"
    valid = valid.astype(np.int64)
    if len(valid) == 0 or len(valid) == len(sentences):
        raise CorpusError(f"the corpus has only {len(sentences)} sentence(s) in {count} "
                          "document(s): too few to hold out a validation split; give a longer "
                          "corpus or --valid")
    train = np.setdiff1d(np.arange(len(sentences)), valid, assume_unique=True)
    return train, np.sort(valid), how


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
