"""Corpora of several documents, and what an epoch of running text predicts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from charlm.data.types import IGNORE, Batch, EncodedSentences, offsets_of
from helpers.corpora import write_corpus
from helpers.training import tiny_flags


def write_documents(folder: Path, count: int = 3, sentences: int = 120) -> Path:
    """A directory of `count` text files, each a document of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        write_corpus(folder / f"doc{number}.txt", sentences=sentences, seed=number)
    return folder


def random_sentences(lengths: list[int], documents: list[int], seed: int = 0
                     ) -> EncodedSentences:
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, 40, size=sum(lengths)).astype(np.int16)
    return EncodedSentences(ids, offsets_of(np.array(lengths)), np.array(documents))


def predicted_pairs(batches: list[Batch]) -> Counter[tuple[int, int]]:
    """How often each (input, target) pair is predicted in the batches, padding left out."""
    pairs: Counter[tuple[int, int]] = Counter()
    for batch in batches:
        kept = batch.targets != IGNORE
        pairs.update(zip(batch.inputs[kept].tolist(), batch.targets[kept].tolist()))
    return pairs


def document_flags(folder: Path, out: Path, **changes: object) -> dict:
    return tiny_flags(corpus=str(folder), out=str(out), context="document", bptt=10,
                      **changes)


