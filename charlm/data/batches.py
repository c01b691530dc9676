"""Encoded sentences to training batches: a seeded validation split and length-grouped batches.

Each sentence is one sequence: inputs SENTENCE_START w1 … wn, targets w1 … wn SENTENCE_END.
Sentences of similar length share a batch, so little is padded; padded targets are IGNORE and never
count in the loss or the token counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from charlm.data.types import IGNORE, Batch, EncodedSentences
from charlm.data.vocab import END_ID, START_ID
from charlm.errors import CorpusError

# Batches are formed within pools of this many batches' worth of shuffled sentences: sorting a pool
# by length keeps padding low while every epoch still mixes sentences differently. Sentence lengths
# have a long tail; on Austen pools of 50 batches padded 12% of the positions, 256 pad under 3%.
POOL_BATCHES = 256


class EpochBatches(Protocol):
    """One epoch's batches, the same on every rank: a step trains rank r on batch first + r."""

    @property
    def count(self) -> int:
        """Batches in the epoch; a step takes one for each rank."""

    def batch(self, index: int) -> Batch: ...

    def step_totals(self, first: int) -> tuple[int, int]:
        """Sentences and predicted tokens of the step that starts at batch `first`, every
        rank's batch counted."""

    def sentences_before(self, index: int) -> int:
        """Sentences the batches before `index` finish."""


def split_validation(
    count: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation sentence indices, chosen by the seed."""
    valid_count = max(1, round(count * fraction))
    if count - valid_count < 1:
        raise CorpusError(
            f"the corpus has only {count} sentence(s): too few to hold out a validation split; "
            "give a longer corpus"
        )
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[valid_count:]), np.sort(order[:valid_count])


def epoch_order(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int
) -> list[np.ndarray]:
    """The epoch's batches as arrays of sentence indices, a function of (seed, epoch) alone."""
    rng = np.random.default_rng([seed, epoch])
    shuffled = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(shuffled), pool):
        chunk = shuffled[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def batch_tokens(lengths: np.ndarray, indices: np.ndarray) -> int:
    """Predicted positions of a batch: each sentence's words plus its SENTENCE_END."""
    return int(lengths[indices].sum()) + len(indices)


def target_counts(sentences: EncodedSentences, vocab_size: int) -> np.ndarray:
    """How often each id is a predicted target: every word, and SENTENCE_END once a sentence."""
    counts = np.bincount(sentences.ids, minlength=vocab_size).astype(np.int64)
    counts[END_ID] += len(sentences)
    return counts


def make_batch(sentences: EncodedSentences, indices: np.ndarray) -> Batch:
    """Inputs and targets for the given sentences, padded to the longest."""
    indices = np.asarray(indices, dtype=np.int64)
    starts = sentences.offsets[indices]
    lengths = sentences.offsets[indices + 1] - starts
    rows = len(indices)
    steps = int(lengths.max()) + 1
    # Gather every word of the batch at once: a per-sentence Python loop costs as much as a
    # small model's step.
    total = int(lengths.sum())
    row_of = np.repeat(np.arange(rows), lengths)
    first = np.zeros(rows, dtype=np.int64)
    np.cumsum(lengths[:-1], out=first[1:])
    column = np.arange(total) - np.repeat(first, lengths)
    words = sentences.ids[np.repeat(starts, lengths) + column]
    inputs = np.zeros((rows, steps), dtype=np.int64)
    targets = np.full((rows, steps), IGNORE, dtype=np.int64)
    inputs[:, 0] = START_ID
    inputs[row_of, column + 1] = words
    targets[row_of, column] = words
    targets[np.arange(rows), lengths] = END_ID
    return Batch(
        torch.from_numpy(inputs),
        torch.from_numpy(targets),
        tokens=total + rows,
        sentences=rows,
    )


@dataclass(frozen=True)
class SentenceBatches:
    """One epoch of sentence-context training: batches of whole sentences (epoch_order), each
    step taking `world` of them, one per rank; the few left over wait for another epoch. The
    batches do not depend on `world`: a run stopped inside an epoch goes on with any number of
    ranks from the batch where it stopped."""

    sentences: EncodedSentences
    order: list[np.ndarray]
    world: int = 1

    @property
    def count(self) -> int:
        return len(self.order)

    def batch(self, index: int) -> Batch:
        return make_batch(self.sentences, self.order[index])

    def step_totals(self, first: int) -> tuple[int, int]:
        group = self.order[first : first + self.world]
        lengths = self.sentences.lengths
        return (sum(len(indices) for indices in group),
                sum(batch_tokens(lengths, indices) for indices in group))

    def sentences_before(self, index: int) -> int:
        return int(sum(len(indices) for indices in self.order[:index]))


def sentence_epoch(sentences: EncodedSentences, batch_size: int, seed: int, epoch: int,
                   world: int = 1) -> SentenceBatches:
    """Epoch `epoch`'s batches, for `world` ranks that each take one a step."""
    order = epoch_order(sentences.lengths, batch_size, seed, epoch)
    if len(order) < world:
        count = len(sentences)
        advice = (f"lower --batch-size to {count // world} or start fewer ranks"
                  if count >= world else f"start at most {count} ranks or give a longer corpus")
        raise CorpusError(f"the training text has {count:,} sentences, {len(order):,} batch(es) "
                          f"of --batch-size {batch_size}, fewer than the {world} ranks a step "
                          f"trains on side by side; {advice}")
    return SentenceBatches(sentences, order, world)


def iterate_batches(
    sentences: EncodedSentences, batch_size: int
) -> Iterator[Batch]:
    """Every sentence once, in length-sorted batches (for evaluation)."""
    order = np.argsort(sentences.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield make_batch(sentences, order[start : start + batch_size])
