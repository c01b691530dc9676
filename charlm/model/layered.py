"""Stacked recurrent layers run one layer at a time, called as nn.GRU / nn.LSTM with batch_first:
for what one multi-layer fused layer cannot do. Each layer may have its own size (AWD-LSTM's
1150, 1150, 400); dropout between layers may hold one mask per row for a whole window; and
weight drop runs each layer on its masked hidden-to-hidden matrix (regularisers.py).

A layer runs on PyTorch's fused layer (`FusedLayers`: the single-layer nn.LSTM / nn.GRU / nn.RNN,
cuDNN on a GPU, called with this stack's weights in place of its own) or on the hand-written
time loop of its cell (cells.py's HandWrittenRNN). The weights are named and shaped as the
fused layers name theirs (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...), so the same
weights load into either stack, or into one fused multi-layer layer where the sizes agree.

The state is shaped as PyTorch's: h (layers, rows, width), and c for the LSTM family, width being
the widest layer's size. A narrower layer keeps its state in the first columns of its slice, the
other columns zero; so whatever carries, trims or stores a state needs nothing of the sizes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from charlm.model.kinds import CELL_KINDS, LOCKED, STEP
from charlm.model.regularisers import keep_mask
from charlm.model.state import State, state_of, state_parts

# The weights of every cell's layer k, as PyTorch's fused layers name them (with _l<k>).
WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
SEPARATE_WEIGHTS_WARNING = "RNN module weights are not part of single contiguous chunk of memory"


@dataclass(frozen=True)
class WindowMasks:
    """The masks drawn once for a window and held for all of it (None where nothing drops)."""

    between: tuple[Tensor | None, ...]
    """For each layer after the first, the locked dropout mask (rows, 1, units) of its input."""
    weight_hh: tuple[Tensor | None, ...]
    """For each layer, weight drop's mask of its hidden-to-hidden matrix."""


class LayeredRNN(nn.Module):
    """Recurrent layers of sizes `layer_sizes` over inputs of `input_size`, with dropout p
    `dropout` between layers (masks `dropout_mask`: locked or step, kinds.py) and weight drop
    `weight_drop` on the hidden-to-hidden matrices. A subclass says how one layer runs
    (`run_layer`)."""

    def __init__(self, cell: str, input_size: int, layer_sizes: Sequence[int],
                 dropout: float = 0.0, dropout_mask: str = STEP,
                 weight_drop: float = 0.0) -> None:
        super().__init__()
        self.cell = cell
        self.spec = CELL_KINDS[cell]
        self.input_size = input_size
        self.layer_sizes = tuple(layer_sizes)
        self.num_layers = len(self.layer_sizes)
        self.hidden_size = max(self.layer_sizes)  # the state's width
        self.dropout, self.dropout_mask, self.weight_drop = dropout, dropout_mask, weight_drop
        for k, size in enumerate(self.layer_sizes):
            inputs = input_size if k == 0 else self.layer_sizes[k - 1]
            rows = self.spec.gate_rows * size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(rows, inputs)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(rows, size)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(rows)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(rows)))
            if self.spec.peephole_rows:
                self.register_parameter(
                    f"weight_peephole_l{k}",
                    nn.Parameter(torch.empty(self.spec.peephole_rows, size)))
        self.reset_parameters()

    def layer_weights(self, k: int) -> list[Tensor]:
        """Layer k's weight_ih, weight_hh, bias_ih and bias_hh."""
        return [getattr(self, f"{name}_l{k}") for name in WEIGHT_NAMES]

    def reset_parameters(self) -> None:
        # As PyTorch's recurrent layers, in the order they draw: uniform in ±1/sqrt(size), each
        # layer by its own size.
        for k, size in enumerate(self.layer_sizes):
            bound = 1.0 / math.sqrt(size)
            peephole = [getattr(self, f"weight_peephole_l{k}")] if self.spec.peephole_rows else []
            for parameter in [*self.layer_weights(k), *peephole]:
                nn.init.uniform_(parameter, -bound, bound)

    def window_masks(self, x: Tensor) -> WindowMasks:
        """The masks for a window whose input is x (rows, time, input): drawn in training only,
        locked dropout's between layers and weight drop's."""
        locked = self.training and self.dropout > 0.0 and self.dropout_mask == LOCKED
        between = tuple(keep_mask((x.size(0), 1, size), self.dropout, x) if locked else None
                        for size in self.layer_sizes[:-1])
        dropping = self.training and self.weight_drop > 0.0
        weight_hh = tuple(
            keep_mask(w_hh.shape, self.weight_drop, w_hh) if dropping else None
            for w_hh in (getattr(self, f"weight_hh_l{k}") for k in range(self.num_layers)))
        return WindowMasks(between, weight_hh)

    def forward(self, x: Tensor, state: State | None = None,
                masks: WindowMasks | None = None) -> tuple[Tensor, State]:
        """Outputs of the last layer (rows, time, its size) and the final state, the masks
        `masks` held (None: drawn for this call alone)."""
        if masks is None:
            masks = self.window_masks(x)
        zeros = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
        parts = (state_parts(state) if state is not None
                 else (zeros, zeros) if self.spec.has_cell_state else (zeros,))
        finals: list[list[Tensor]] = [[] for _ in parts]
        for k, size in enumerate(self.layer_sizes):
            if k > 0:
                between = masks.between[k - 1]
                x = (x * between if between is not None
                     else F.dropout(x, self.dropout, self.training))
            w_hh, dropped = getattr(self, f"weight_hh_l{k}"), masks.weight_hh[k]
            x, ends = self.run_layer(k, x, [part[k, :, :size] for part in parts],
                                     w_hh if dropped is None else w_hh * dropped)
            for final, end in zip(finals, ends):
                final.append(F.pad(end, (0, self.hidden_size - size))
                             if size < self.hidden_size else end)
        return x, state_of([torch.stack(final) for final in finals])

    def run_layer(self, k: int, x: Tensor, parts: list[Tensor], w_hh: Tensor
                  ) -> tuple[Tensor, list[Tensor]]:
        """Layer k over x (rows, time, input) from its state `parts` (h, and c where the cell
        keeps one; each rows × its size), its hidden-to-hidden matrix `w_hh`: its outputs, and
        its final state's parts."""
        raise NotImplementedError


class FusedLayers(LayeredRNN):
    """Each layer on PyTorch's fused single-layer module, with this stack's weights."""

    def __init__(self, cell: str, input_size: int, layer_sizes: Sequence[int],
                 dropout: float = 0.0, dropout_mask: str = STEP,
                 weight_drop: float = 0.0) -> None:
        super().__init__(cell, input_size, layer_sizes, dropout, dropout_mask, weight_drop)
        fused = self.spec.fused
        assert fused is not None
        # The modules whose computation each layer borrows, their own weights never used: on
        # the meta device they take no memory, and kept in a tuple they are no part of the
        # model (its parameters, state dict, device).
        self.templates = tuple(
            getattr(nn, fused)(self.input_size if k == 0 else self.layer_sizes[k - 1], size, 1,
                               batch_first=True, device="meta")
            for k, size in enumerate(self.layer_sizes))

    def train(self, mode: bool = True) -> FusedLayers:
        super().train(mode)
        for template in self.templates:
            template.train(mode)  # cuDNN keeps what a backward pass needs in training only
        return self

    def run_layer(self, k: int, x: Tensor, parts: list[Tensor], w_hh: Tensor
                  ) -> tuple[Tensor, list[Tensor]]:
        w_ih, _, b_ih, b_hh = self.layer_weights(k)
        weights = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih,
                   "bias_hh_l0": b_hh}
        state = state_of([part.unsqueeze(0).contiguous() for part in parts])
        with warnings.catch_warnings():
            # cuDNN copies weights it is handed separately into one buffer at each call, and
            # warns of it: a layer given a dropped matrix has no other way.
            warnings.filterwarnings("ignore", message=SEPARATE_WEIGHTS_WARNING)
            outputs, final = functional_call(self.templates[k], weights, (x, state), strict=True)
        return outputs, [part[0] for part in state_parts(final)]
