"""The output layer: the last hidden states → scores over the vocabulary, and the training loss.

Two kinds, named in kinds.py's SOFTMAX_KINDS:
- full: one linear layer over every word, then a softmax (the tutorial's output layer).
- adaptive: Grave et al.'s adaptive softmax (2017). The most frequent words and one entry per
  cluster of rarer words form a small head; each cluster's words get their own smaller layer. A
  word's probability is its head probability, or its cluster's head probability times its
  probability within the cluster. Training pays for a cluster only on the positions whose target
  lies in it, so the cost grows little with the vocabulary.

Both return, for hidden states (..., hidden), scores (..., vocabulary) whose softmax is the model's
distribution (the adaptive layer returns the log-probabilities themselves), so generation, scoring
and export use either alike. Word ids must run from frequent to rare, as the vocabulary numbers
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from charlm.data.types import IGNORE
from charlm.model.kinds import SOFTMAX_KINDS

# Adaptive clusters: the head holds the most frequent words up to this share of the training
# targets, the first cluster those up to the second share, the last cluster the rest.
HEAD_SHARE, FIRST_CLUSTER_SHARE = 0.85, 0.97
# Each further cluster's projection is this many times narrower than the previous one.
PROJECTION_DIVISOR = 4


class FullSoftmax(nn.Linear):
    """A linear layer over the whole vocabulary (its parameters keep nn.Linear's names)."""

    def __init__(self, hidden_dim: int, vocab_size: int, cutoffs: Sequence[int] = ()) -> None:
        super().__init__(hidden_dim, vocab_size)

    @property
    def scores_per_row(self) -> int:
        """Scores computed for each training position."""
        return self.out_features

    def loss_sum(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy of rows of hidden states (rows, hidden) against targets (rows,);
        IGNORE targets count nothing."""
        return F.cross_entropy(self(hidden), targets, ignore_index=IGNORE, reduction="sum")


class AdaptiveSoftmax(nn.Module):
    """A head over the words below cutoffs[0] and one entry per cluster; cluster i holds the
    words from cutoffs[i] up to the next cutoff (the last one up to the vocabulary's end)."""

    def __init__(self, hidden_dim: int, vocab_size: int, cutoffs: Sequence[int]) -> None:
        super().__init__()
        self.bounds = [*cutoffs, vocab_size]
        # On the device with the layer: made from a list at each step, it would be copied there
        # from the host, which waits for a GPU.
        self.register_buffer("upper_bounds", torch.tensor(self.bounds[1:]), persistent=False)
        self.head = nn.Linear(hidden_dim, self.bounds[0] + len(cutoffs))
        self.tail = nn.ModuleList()
        for i, (low, high) in enumerate(zip(self.bounds, self.bounds[1:])):
            width = max(1, hidden_dim // PROJECTION_DIVISOR ** (i + 1))
            self.tail.append(nn.Sequential(nn.Linear(hidden_dim, width, bias=False),
                                           nn.Linear(width, high - low, bias=False)))

    @property
    def scores_per_row(self) -> int:
        return self.head.out_features

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every word (..., vocabulary)."""
        head = torch.log_softmax(self.head(hidden), dim=-1)
        shortlist = self.bounds[0]
        parts = [head[..., :shortlist]]
        for i, cluster in enumerate(self.tail):
            within = torch.log_softmax(cluster(hidden), dim=-1)
            parts.append(within + head[..., shortlist + i : shortlist + i + 1])
        return torch.cat(parts, dim=-1)

    def loss_sum(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy: every row's head term, and each cluster's term on its rows;
        IGNORE targets count nothing (they lie in no cluster).

        Every cluster runs, on no rows when no target of this step lies in it, so every parameter
        takes part in every step, as DistributedDataParallel requires.
        """
        shortlist = self.bounds[0]
        cluster_of = torch.bucketize(targets, self.upper_bounds, right=True)
        head_targets = torch.where(targets < shortlist, targets, shortlist + cluster_of)
        total = F.cross_entropy(self.head(hidden), head_targets, ignore_index=IGNORE,
                                reduction="sum")
        for i, cluster in enumerate(self.tail):
            chosen = (targets >= self.bounds[i]) & (targets < self.bounds[i + 1])
            total = total + F.cross_entropy(cluster(hidden[chosen]),
                                            targets[chosen] - self.bounds[i], reduction="sum")
        return total


# Each output layer by its name; SOFTMAX_KINDS names the class of each.
SOFTMAXES: dict[str, type[FullSoftmax] | type[AdaptiveSoftmax]] = {
    name: globals()[class_name] for name, class_name in SOFTMAX_KINDS.items()
}


def adaptive_cutoffs(target_counts: np.ndarray) -> tuple[int, ...]:
    """Cut-offs for an adaptive softmax from how often each id is a training target.

    Ids run from frequent to rare. The head keeps the ids that make up HEAD_SHARE of the targets,
    the first cluster those up to FIRST_CLUSTER_SHARE, the second the rest; clusters that would
    be empty are left out.
    """
    counts = np.asarray(target_counts, dtype=np.float64)
    size = len(counts)
    covered = np.cumsum(counts) / max(counts.sum(), 1.0)
    cutoffs: list[int] = []
    for share in (HEAD_SHARE, FIRST_CLUSTER_SHARE):
        cut = int(np.searchsorted(covered, share)) + 1
        if cut < size and (not cutoffs or cut > cutoffs[-1]):
            cutoffs.append(cut)
    return tuple(cutoffs)


def cutoffs_problem(cutoffs: Sequence[int], vocab_size: int) -> str | None:
    """Why these cut-offs cannot split this vocabulary, or None."""
    bounds = [0, *cutoffs, vocab_size]
    if any(low >= high for low, high in zip(bounds, bounds[1:])):
        return (f"adaptive softmax cut-offs {list(cutoffs)} must rise strictly between 0 and the "
                f"vocabulary size {vocab_size}")
    return None
