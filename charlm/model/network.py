"""The network: embedding → stacked recurrent layers → output layer (softmax.py: a full or an
adaptive softmax) → a distribution over the vocabulary.

It knows nothing of files, text or vocabularies: it maps token ids to next-token scores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from charlm.data.types import IGNORE, Resets
from charlm.model.cells import CELLS, HandWrittenRNN
from charlm.model.kinds import (
    CELL_KINDS,
    DROPOUT_MASKS,
    DROPOUTS,
    GATE_ACTIVATIONS,
    IMPLEMENTATIONS,
    LOCKED,
    MASKED_DROPOUTS,
    REGULARISERS,
    SOFTMAX_KINDS,
    STEP,
)
from charlm.model.layered import FusedLayers, LayeredRNN
from charlm.model.regularisers import activation_penalty, drop, dropped_words, temporal_penalty
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
    last_hidden_dim: int = 0  # the last recurrent layer's size; 0: hidden_dim
    # The regularisers (regularisers.py): in training only, 0 is off.
    dropout_input: float = 0.0  # on the embedding output
    dropout_hidden: float = 0.0  # between recurrent layers
    dropout_output: float = 0.0  # on the last layer's output
    dropout_mask: str = LOCKED  # the masks of the three above: a key of DROPOUT_MASKS
    dropout_embedding: float = 0.0  # whole words of the embedding matrix
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden matrices
    ar: float = 0.0  # α of activation regularisation
    tar: float = 0.0  # β of temporal activation regularisation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cutoffs": list(self.cutoffs)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return cls(**{**values, "cutoffs": tuple(values.get("cutoffs", ()))})

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Each recurrent layer's size: hidden_dim, the last one last_hidden_dim where set."""
        return (self.hidden_dim,) * (self.layers - 1) + (self.last_hidden_dim or self.hidden_dim,)

    @property
    def output_dim(self) -> int:
        """The size of what the output layer reads: the last recurrent layer's."""
        return self.layer_sizes[-1]

    def regularisers(self) -> dict[str, float | str]:
        """The regularisers other than --dropout that are on, by field (with the dropouts'
        mask)."""
        values = {name: getattr(self, name) for name in REGULARISERS if getattr(self, name)}
        if any(name in values for name in MASKED_DROPOUTS):
            values["dropout_mask"] = self.dropout_mask
        return values

    def without_dropout(self) -> ModelConfig:
        """The same model with nothing dropped and no penalty, even in training mode (the
        weights load unchanged)."""
        return replace(self, dropout=0.0, **dict.fromkeys(REGULARISERS, 0.0))

    @property
    def layer_by_layer(self) -> bool:
        """Whether a fused cell's layers run one at a time (layered.py), for what one
        multi-layer fused layer cannot do: layers of different sizes, locked dropout between
        layers, weight drop."""
        locked_between = (self.layers > 1 and self.dropout_hidden > 0
                          and self.dropout_mask == LOCKED)
        return len(set(self.layer_sizes)) > 1 or locked_between or self.weight_drop > 0

    @property
    def between_layers(self) -> tuple[float, str]:
        """Dropout between recurrent layers, and its masks: --dropout-hidden's, else
        --dropout's (a new mask each step)."""
        if self.dropout_hidden > 0:
            return self.dropout_hidden, self.dropout_mask
        return self.dropout, STEP

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
        if reason := self._last_layer_problem(name):
            return reason
        if self.tie_weights and self.embedding_dim != self.output_dim:
            return self._tie_problem(name)
        if self.softmax not in SOFTMAX_KINDS:
            return f"unknown softmax {self.softmax!r}; choose one of {', '.join(SOFTMAX_KINDS)}"
        if self.tie_weights and self.softmax != "full":
            return (f"{name('tie_weights')} shares the embedding with a full output layer; the "
                    f"{self.softmax} softmax has none: drop one of {name('tie_weights')} and "
                    f"{name('softmax')}={self.softmax}")
        if self.softmax == "adaptive" and (reason := cutoffs_problem(self.cutoffs,
                                                                     self.vocab_size)):
            return reason
        if reason := self._regulariser_problem(name):
            return reason
        if self.bptt_truncate == 0 or self.bptt_truncate < -1:
            return (f"{name('bptt_truncate')}={self.bptt_truncate} would backpropagate nothing; "
                    "use -1 (whole sentence) or a number of steps of at least 1")
        return None

    def _last_layer_problem(self, name: Callable[[str], str]) -> str | None:
        if self.last_hidden_dim in (0, self.hidden_dim):
            return None
        if self.layers == 1:
            return (f"{name('last_hidden_dim')}={self.last_hidden_dim} sizes the last of several "
                    f"recurrent layers; with {name('layers')}=1 set {name('hidden_dim')} instead")
        if not 0 < self.last_hidden_dim < self.hidden_dim:
            # The state is (layers, rows, hidden_dim) whatever the sizes (layered.py), as an
            # exported model's inputs are.
            return (f"{name('last_hidden_dim')}={self.last_hidden_dim} is above "
                    f"{name('hidden_dim')}={self.hidden_dim}: the last layer may be smaller than "
                    "the others, not larger")
        return None

    def _tie_problem(self, name: Callable[[str], str]) -> str:
        if self.last_hidden_dim and self.layers > 1:
            return (f"{name('tie_weights')} needs the last recurrent layer as large as the "
                    f"embedding, but {name('embedding_dim')}={self.embedding_dim} and "
                    f"{name('last_hidden_dim')}={self.last_hidden_dim}; set both to the same "
                    "size")
        return (f"{name('tie_weights')} needs the embedding and hidden sizes to be equal, but "
                f"{name('embedding_dim')}={self.embedding_dim} and "
                f"{name('hidden_dim')}={self.hidden_dim}; set both to the same size (or "
                f"{name('last_hidden_dim')} to {self.embedding_dim}, with several layers)")

    def _regulariser_problem(self, name: Callable[[str], str]) -> str | None:
        for field in ("dropout", *DROPOUTS):
            if not 0.0 <= getattr(self, field) < 1.0:
                return f"{name(field)}={getattr(self, field)} is outside [0, 1)"
        if self.ar < 0 or self.tar < 0:
            return f"{name('ar')} and {name('tar')} must be at least 0"
        if self.dropout_mask not in DROPOUT_MASKS:
            return (f"unknown dropout mask {self.dropout_mask!r}; choose one of "
                    f"{', '.join(DROPOUT_MASKS)}")
        if self.dropout > 0 and (self.dropout_hidden > 0 or self.dropout_output > 0):
            return (f"{name('dropout')} drops between recurrent layers and before the output "
                    f"layer, where {name('dropout_hidden')} and {name('dropout_output')} drop: "
                    f"give one or the other ({name('dropout')}={self.dropout} is "
                    f"{name('dropout_hidden')}={self.dropout} {name('dropout_output')}="
                    f"{self.dropout} {name('dropout_mask')}={STEP})")
        if self.dropout_hidden > 0 and self.layers == 1:
            return (f"{name('dropout_hidden')} drops between recurrent layers, and "
                    f"{name('layers')}=1 has none: drop {name('dropout_hidden')} or add layers")
        return None


def _zero_rows(state: State, keep: torch.Tensor) -> State:
    """The state with the rows whose `keep` (rows,) is 0 zeroed."""
    scale = keep.view(1, -1, 1).to(state_parts(state)[0].dtype)
    return map_state(state, lambda part: part * scale)


def recurrent_layers(config: ModelConfig) -> nn.Module:
    """The stacked recurrent layers, called as nn.GRU / nn.LSTM with batch_first (a
    LayeredRNN also with the masks of a window)."""
    # PyTorch applies dropout between layers only; it warns when asked for it with one layer.
    between, mask = config.between_layers if config.layers > 1 else (0.0, STEP)
    if not config.hand_written and config.layer_by_layer:
        return FusedLayers(config.cell, config.embedding_dim, config.layer_sizes, between, mask,
                           config.weight_drop)
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
        last_hidden_size=config.last_hidden_dim,
        dropout_mask=mask,
        weight_drop=config.weight_drop,
    )


class TargetRows(NamedTuple):
    """A window's last-layer outputs as rows for the output layer, and what goes with them."""

    rows: torch.Tensor
    """The dropped outputs (rows, units), row-major: each sequence's positions in order."""
    targets: torch.Tensor
    """Each row's target (IGNORE where padded, unless the padding was left out)."""
    block: int
    """How many rows the output layer takes at a time."""
    final: State
    penalty: torch.Tensor
    """AR + TAR, to add to the mean loss (0 but in training with --ar or --tar)."""


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
        self.output = SOFTMAXES[config.softmax](config.output_dim, config.vocab_size,
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
        # A window's masks are drawn once, for every chunk of it.
        layers = (partial(self.rnn, masks=self.rnn.window_masks(embedded))
                  if isinstance(self.rnn, LayeredRNN) else self.rnn)
        if not detach_at and not reset_at:
            return layers(embedded, state)
        cuts = sorted(detach_at | reset_at | {0, time})
        chunks = []
        for start, end in zip(cuts, cuts[1:]):
            if state is not None and start in detach_at:
                state = detach_state(state)
            if state is not None and start in reset_at:
                assert resets is not None
                state = _zero_rows(state, resets.keep[:, start])
            hidden, state = layers(embedded[:, start:end], state)
            chunks.append(hidden)
        assert state is not None
        return torch.cat(chunks, dim=1), state

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """The embeddings of ids (batch, time); in training, read from the matrix with
        --dropout-embedding's words dropped, and with --dropout-input on the result."""
        config, weight = self.config, self.embedding.weight
        if self.training and config.dropout_embedding > 0:
            weight = dropped_words(weight, config.dropout_embedding)
        return drop(F.embedding(tokens, weight), config.dropout_input, config.dropout_mask,
                    self.training)

    def drop_output(self, hidden: torch.Tensor) -> torch.Tensor:
        """The last layer's outputs (batch, time, units) with --dropout-output, in training."""
        return drop(hidden, self.config.dropout_output, self.config.dropout_mask, self.training)

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Scores (batch, time, vocab) for ids (batch, time), whose softmax is the next word's
        distribution (logits, or the adaptive softmax's log-probabilities), and the final state."""
        hidden, state = self.recurrent(self.embed(tokens), state)
        return self.output(self.dropout(self.drop_output(hidden))), state

    def _target_rows(self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None,
                     resets: Resets | None, drop_padding: bool) -> TargetRows:
        """The last layer's outputs as rows for the output layer, with their targets and the
        window's penalty. With `drop_padding`, only the positions that have a target: the
        output layer, the costliest step, then never runs on padding."""
        undropped, final = self.recurrent(self.embed(inputs), state, resets)
        hidden = self.drop_output(undropped)
        hidden, flat_targets = hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)
        if drop_padding:
            mask = flat_targets != IGNORE
            hidden, flat_targets = hidden[mask], flat_targets[mask]
        rows = self.dropout(hidden)
        block = max(len(flat_targets), 1)
        if rows.device.type == "cpu":
            block = max(1, CPU_SCORES_PER_BLOCK // self.output.scores_per_row)
        penalty = self._penalty(rows, flat_targets, undropped, targets, resets)
        return TargetRows(rows, flat_targets, block, final, penalty)

    def _penalty(self, rows: torch.Tensor, row_targets: torch.Tensor, undropped: torch.Tensor,
                 targets: torch.Tensor, resets: Resets | None) -> torch.Tensor:
        """AR on the dropped rows and TAR on the undropped outputs (batch, time, units), over
        the positions with a target; TAR's pairs never straddle the start of a document."""
        penalty = rows.new_zeros((), dtype=torch.float32)
        if not self.training:
            return penalty
        if self.config.ar > 0:
            penalty = penalty + activation_penalty(rows, row_targets != IGNORE, self.config.ar)
        if self.config.tar > 0:
            counted = targets != IGNORE
            pairs = counted[:, 1:] & counted[:, :-1]
            if resets is not None:
                pairs = pairs & (resets.keep[:, 1:] != 0)
            penalty = penalty + temporal_penalty(undropped, pairs, self.config.tar)
        return penalty

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
        total, _, final = self.training_loss(inputs, targets, state, resets, drop_padding)
        return total, final

    def training_loss(self, inputs: torch.Tensor, targets: torch.Tensor,
                      state: State | None = None, resets: Resets | None = None,
                      drop_padding: bool | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """As `stream_loss`, with the window's activation penalty (regularisers.py: AR + TAR,
        to add to the mean loss; 0 but in training with --ar or --tar) before the final
        state."""
        if drop_padding is None:
            drop_padding = inputs.device.type == "cpu"
        rows, kept, block, final, penalty = self._target_rows(inputs, targets, state, resets,
                                                              drop_padding)
        total = sum(
            self.output.loss_sum(rows[start : start + block], kept[start : start + block])
            for start in range(0, max(len(kept), 1), block)
        )
        assert isinstance(total, torch.Tensor)
        return total, penalty, final

    def token_losses(self, inputs: torch.Tensor, targets: torch.Tensor,
                     state: State | None = None, resets: Resets | None = None
                     ) -> tuple[torch.Tensor, State]:
        """The cross-entropy of every non-ignored target, in row-major order (float32), the
        sequences continuing from `state` as in `stream_loss`; and the final state."""
        rows, kept, block, final, _ = self._target_rows(inputs, targets, state, resets,
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
