"""The model as one step: (word ids, state) → (log-probabilities of the next word, state).

This is the whole model for a caller that loops itself, one word at a time, as an exported model
is used: feed SENTENCE_START and a zero state, then each word with the state the previous step
returned. It computes exactly what the network computes over a whole sentence.
"""

from __future__ import annotations

import torch
from torch import nn

from charlm.model.kinds import CELL_KINDS
from charlm.model.network import RNNLanguageModel
from charlm.model.state import state_parts


def state_names(model: RNNLanguageModel) -> list[str]:
    """The state's parts: h, and c for the cells that keep a cell state."""
    return ["h", "c"] if CELL_KINDS[model.config.cell].has_cell_state else ["h"]


class NextWordStep(nn.Module):
    def __init__(self, model: RNNLanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, word_ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """word_ids (batch,) int64; h and c (layers, batch, hidden; a smaller last layer's state
        in its first columns, layered.py). Returns the natural
        log-probabilities of the next word (batch, vocabulary), then the new h (and c)."""
        state = h if c is None else (h, c)
        logits, state = self.model(word_ids[:, None], state)
        log_probs = torch.log_softmax(logits[:, -1], dim=-1)
        return (log_probs, *state_parts(state))

    def zero_state(self, batch: int) -> list[torch.Tensor]:
        config = self.model.config
        return [torch.zeros(config.layers, batch, config.hidden_dim)
                for _ in state_names(self.model)]
