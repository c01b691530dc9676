"""The network: embedding → stacked recurrent layers → output layer (softmax.py: a full or an
adaptive softmax) → a distribution over the vocabulary.

It knows nothing of files, text or vocabularies: it maps token ids to next-token scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from charlm.data.types import IGNORE, Resets
from charlm.model.cells import CELLS, HandWrittenRNN
from charlm.model.kinds import CELL_KINDS, GATE_ACTIVATIONS, IMPLEMENTATIONS, SOFTMAX_KINDS
from charlm.model.softmax import SOFTMAXES, cutoffs_problem
from charlm.model.state import State, detach_state, map_state, state_parts

# On a CPU the output layer and loss run over this many scores at a time, so each block stays in
# the cache between the product, the softmax and their backward: one block for a whole batch of
# 128 sentences over 2,000 words spills out of it and takes a third longer per token.
CPU_SCORES_PER_BLOCK = 2**21

@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model; with the weights, all that is needed to rebuild it."""

    vocab_size: int
    embedding_dim: int = 48
    hidden_dim: int = 128
    layers: int = 2
    cell: str = "gru"
    # Fields below came after the first checkpoint format: their defaults are the model it had.
    gate_activation: str = "sigmoid"
    implementation: str = "auto"  # auto: the fused layer where one computes this cell
    dropout: float = 0.0
    tie_weights: bool = False
    bptt_truncate: int = -1  # backpropagate at most this many steps; -1: the whole sequence
    softmax: str = "full"  # a key of SOFTMAX_KINDS
    cutoffs: tuple[int, ...] = ()  # where the adaptive softmax's clusters start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cutoffs": list(self.cutoffs)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return cls(**{**values, "cutoffs": tuple(values.get("cutoffs", ()))})

    @property
    def hand_written(self) -> bool:
        """Whether the cell runs on charlm/model/cells.py rather than a fused PyTorch layer."""
        return (self.implementation == "hand-written" or CELL_KINDS[self.cell].fused is None
                or self.gate_activation == "hard-sigmoid")

    def problem(self, names: Mapping[str, str] | None = None) -> str | None:
        """Why this configuration cannot be built, or None. `names` says how to call each field
        in the message (its flag or variable, for a command line)."""
        def name(field: str) -> str:
            return (names or {}).get(field, field)

        if self.cell not in CELL_KINDS:
            return f"unknown cell {self.cell!r}; choose one of {', '.join(CELL_KINDS)}"
        if self.gate_activation not in GATE_ACTIVATIONS:
            return f"unknown gate activation {self.gate_activation!r}"
        if self.implementation not in IMPLEMENTATIONS:
            return f"unknown implementation {self.implementation!r}"
        if not CELL_KINDS[self.cell].gated and self.gate_activation != "sigmoid":
            return (f"{name('gate_activation')}={self.gate_activation} does not apply to --cell "
                    f"{self.cell}, which has no gates; leave it at sigmoid")
        if self.implementation == "fused" and self.hand_written:
            return (f"{name('implementation')}=fused: PyTorch has no fused layer for {self.cell} "
                    f"with {self.gate_activation} gates; use auto or hand-written")
        if self.tie_weights and self.embedding_dim != self.hidden_dim:
            return (f"{name('tie_weights')} needs the embedding and hidden sizes to be equal, but "
                    f"{name('embedding_dim')}={self.embedding_dim} and "
                    f"{name('hidden_dim')}={self.hidden_dim}; set both to the same size")
        if self.softmax not in SOFTMAX_KINDS:
            return f"unknown softmax {self.softmax!r}; choose one of {', '.join(SOFTMAX_KINDS)}"
        if self.tie_weights and self.softmax != "full":
            return (f"{name('tie_weights')} shares the embedding with a full output layer; the "
                    f"{self.softmax} softmax has none: drop one of {name('tie_weights')} and "
                    f"{name('softmax')}={self.softmax}")
        if self.softmax == "adaptive" and (reason := cutoffs_problem(self.cutoffs,
                                                                     self.vocab_size)):
            return reason
        if not 0.0 <= self.dropout < 1.0:
            return f"dropout {self.dropout} is outside [0, 1)"
        if self.bptt_truncate == 0 or self.bptt_truncate < -1:
            return (f"{name('bptt_truncate')}={self.bptt_truncate} would backpropagate nothing; "
                    "use -1 (whole sentence) or a number of steps of at least 1")
        return None


def _zero_rows(state: State, keep: torch.Tensor) -> State:
    """The state with the rows whose `keep` (rows,) is 0 zeroed."""
    scale = keep.view(1, -1, 1).to(state_parts(state)[0].dtype)
    return map_state(state, lambda part: part * scale)


def recurrent_layers(config: ModelConfig) -> nn.Module:
    """The stacked recurrent layers, called as nn.GRU / nn.LSTM with batch_first."""
    # PyTorch applies dropout between layers only; it warns when asked for it with one layer.
    between = config.dropout if config.layers > 1 else 0.0
    if not config.hand_written:
        fused = CELLS[config.cell].fused
        assert fused is not None
        return fused(config.embedding_dim, config.hidden_dim, config.layers,
                                         batch_first=True, dropout=between)
    return HandWrittenRNN(
        config.cell,
        config.embedding_dim,
        config.hidden_dim,
        config.layers,
        dropout=between,
        gate_activation=config.gate_activation,
        # The tutorial's Theano GRU (hard-sigmoid gates) resets the state before the recurrent
        # product, as Cho et al. 2014; with sigmoid gates the hand-written GRU is cuDNN's.
        reset_before=config.cell == "gru" and config.gate_activation == "hard-sigmoid",
    )


class RNNLanguageModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        problem = config.problem()
        if problem:
            raise ValueError(problem)
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.rnn = recurrent_layers(config)
        self.dropout = nn.Dropout(config.dropout)
        self.output = SOFTMAXES[config.softmax](config.hidden_dim, config.vocab_size,
                                                config.cutoffs)
        if config.tie_weights:
            self.output.weight = self.embedding.weight

    def recurrent(self, embedded: torch.Tensor, state: State | None = None,
                  resets: Resets | None = None) -> tuple[torch.Tensor, State]:
        """Hidden states of the last layer (before dropout), and the final state.

        With bptt_truncate = K, while gradients are being recorded, the sequence runs in chunks of
        K steps and the state is detached between them, so no gradient flows back more than K
        steps (the forward computation is unchanged). With `resets`, a row's state is zeroed
        before each position where a document begins: the sequence runs in chunks that start
        there.
        """
        time = embedded.size(1)
        steps = self.config.bptt_truncate
        truncated = steps >= 1 and time > steps and torch.is_grad_enabled()
        detach_at = set(range(steps, time, steps)) if truncated else set()
        reset_at = set(resets.columns) if resets is not None else set()
        if not detach_at and not reset_at:
            return self.rnn(embedded, state)
        cuts = sorted(detach_at | reset_at | {0, time})
        chunks = []
        for start, end in zip(cuts, cuts[1:]):
            if state is not None and start in detach_at:
                state = detach_state(state)
            if state is not None and start in reset_at:
                assert resets is not None
                state = _zero_rows(state, resets.keep[:, start])
            hidden, state = self.rnn(embedded[:, start:end], state)
            chunks.append(hidden)
        assert state is not None
        return torch.cat(chunks, dim=1), state

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Scores (batch, time, vocab) for ids (batch, time), whose softmax is the next word's
        distribution (logits, or the adaptive softmax's log-probabilities), and the final state."""
        hidden, state = self.recurrent(self.embedding(tokens), state)
        return self.output(self.dropout(hidden)), state

    def _target_rows(self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None,
                     resets: Resets | None, drop_padding: bool
                     ) -> tuple[torch.Tensor, torch.Tensor, int, State]:
        """The last layer's hidden states as rows (row-major, so each sequence's positions in
        order), their targets, the rows the output layer takes at a time, and the final state.
        With `drop_padding`, only the positions that have a target: the output layer, the
        costliest step, then never runs on padding."""
        hidden, final = self.recurrent(self.embedding(inputs), state, resets)
        hidden, targets = hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)
        if drop_padding:
            mask = targets != IGNORE
            hidden, targets = hidden[mask], targets[mask]
        rows = self.dropout(hidden)
        block = max(len(targets), 1)
        if rows.device.type == "cpu":
            block = max(1, CPU_SCORES_PER_BLOCK // self.output.scores_per_row)
        return rows, targets, block, final

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Summed cross-entropy over non-ignored targets, and how many there were."""
        total, _ = self.stream_loss(inputs, targets)
        return total, int((targets != IGNORE).sum())

    def stream_loss(self, inputs: torch.Tensor, targets: torch.Tensor,
                    state: State | None = None, resets: Resets | None = None,
                    drop_padding: bool | None = None) -> tuple[torch.Tensor, State]:
        """As `loss`, the sequences continuing from `state` (None: zeros), zeroed where
        `resets` says; and the final state, to carry into what follows.

        Padding is dropped before the output layer on a CPU, where that saves its work. Finding
        the padded positions makes a GPU's host wait for the device (their count sizes the
        rows), so there (drop_padding None) the output layer scores every position and the loss
        ignores the padded targets: the same sum.
        """
        if drop_padding is None:
            drop_padding = inputs.device.type == "cpu"
        rows, kept, block, final = self._target_rows(inputs, targets, state, resets,
                                                     drop_padding)
        total = sum(
            self.output.loss_sum(rows[start : start + block], kept[start : start + block])
            for start in range(0, max(len(kept), 1), block)
        )
        assert isinstance(total, torch.Tensor)
        return total, final

    def token_losses(self, inputs: torch.Tensor, targets: torch.Tensor,
                     state: State | None = None, resets: Resets | None = None
                     ) -> tuple[torch.Tensor, State]:
        """The cross-entropy of every non-ignored target, in row-major order (float32), the
        sequences continuing from `state` as in `stream_loss`; and the final state."""
        rows, kept, block, final = self._target_rows(inputs, targets, state, resets,
                                                     drop_padding=True)
        parts = [
            F.cross_entropy(self.output(rows[start : start + block]).float(),
                            kept[start : start + block], reduction="none")
            for start in range(0, len(kept), block)
        ]
        return (torch.cat(parts) if parts else rows.new_zeros(0)), final

    def parameter_count(self) -> int:
        """Distinct parameters (tied weights count once)."""
        return sum(p.numel() for p in self.parameters())
