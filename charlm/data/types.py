"""What the pipeline steps pass on and the model reads: sentences as word ids, and a batch of
inputs and targets with where its documents begin. Only numpy and torch: the network imports these
without the tokenizer.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# A target that is padding: it never counts in the loss or the token counts.
IGNORE = -100


@dataclass
class EncodedSentences:
    """Sentences as word ids, in documents: sentence i is ids[offsets[i]:offsets[i + 1]], and
    document d holds sentences documents[d] to documents[d + 1] (None: one document holds
    them all)."""

    ids: np.ndarray
    offsets: np.ndarray
    documents: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.documents is None:
            self.documents = np.array([0, len(self)] if len(self) else [0], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def document_count(self) -> int:
        return len(self.documents) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    @classmethod
    def concatenate(cls, parts: list[EncodedSentences]) -> EncodedSentences:
        """The sentences of every part, in order; a part's documents stay its own."""
        ids = np.concatenate([part.ids for part in parts])
        lengths = np.concatenate([part.lengths for part in parts])
        firsts = np.cumsum([0, *(len(part) for part in parts)])
        documents = np.unique(np.concatenate(
            [part.documents + first for part, first in zip(parts, firsts)]))
        return cls(ids, offsets_of(lengths), documents)

    def subset(self, indices: np.ndarray) -> EncodedSentences:
        """The sentences at `indices` (in increasing order), in documents as they were: a
        document of the subset holds the chosen sentences of one document."""
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[indices]
        flat = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        document_of = np.searchsorted(self.documents, indices, side="right")
        firsts = np.flatnonzero(np.diff(document_of, prepend=-1))
        documents = np.append(firsts, len(indices)).astype(np.int64)
        return EncodedSentences(self.ids[flat], offsets, documents)


def offsets_of(lengths: np.ndarray | array) -> np.ndarray:
    """Sentence offsets (n + 1 of them, from 0) of sentences of these lengths."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(lengths, dtype=np.int64) if isinstance(lengths, array)
              else np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    return offsets


@dataclass
class Batch:
    inputs: torch.Tensor  # (batch, time) int64
    targets: torch.Tensor  # (batch, time) int64, IGNORE where padded
    tokens: int  # predicted (non-padding) positions
    sentences: int = 0  # SENTENCE_END targets: the sentences the batch finishes
    resets: Resets | None = None  # where a stream's documents begin


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
