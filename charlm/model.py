"""The network: embedding → stacked GRU or LSTM → linear layer → softmax over the vocabulary.

It knows nothing of files, text or vocabularies: it maps token ids to next-token logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100
CELLS = ("gru", "lstm")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model; with the weights, all that is needed to rebuild it."""

    vocab_size: int
    embedding_dim: int = 48
    hidden_dim: int = 128
    layers: int = 2
    cell: str = "gru"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return cls(**values)


class RNNLanguageModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.cell not in CELLS:
            raise ValueError(f"unknown cell {config.cell!r}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        rnn_class = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn_class(
            config.embedding_dim, config.hidden_dim, config.layers, batch_first=True
        )
        self.output = nn.Linear(config.hidden_dim, config.vocab_size)

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits (batch, time, vocab) for ids (batch, time), and the state after the last step."""
        hidden, state = self.rnn(self.embedding(tokens), state)
        return self.output(hidden), state

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Summed cross-entropy over non-ignored targets, and how many there were.

        The output layer, the costliest step, runs only on positions that have a target.
        """
        hidden, _ = self.rnn(self.embedding(inputs))
        mask = targets != IGNORE_INDEX
        logits = self.output(hidden[mask])
        kept = targets[mask]
        return F.cross_entropy(logits, kept, reduction="sum"), int(kept.numel())

    def token_losses(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every position (batch, time); 0 where the target is ignored."""
        logits, _ = self(inputs)
        losses = F.cross_entropy(
            logits.transpose(1, 2), targets, reduction="none", ignore_index=IGNORE_INDEX
        )
        return losses

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
