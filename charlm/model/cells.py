"""Recurrent cells written straight from their equations, and a stacked layer that runs them.

Notation (σ is the gate activation, ⊙ the element-wise product, x the input, h the hidden state,
c the LSTM cell state; every W·x term also carries a bias):

    rnn             h' = tanh(W_x·x + W_h·h)
    gru             r  = σ(W_xr·x + W_hr·h)                      reset gate
                    z  = σ(W_xz·x + W_hz·h)                      update gate
                    n  = tanh(W_xn·x + r ⊙ (W_hn·h))             candidate (PyTorch, cuDNN)
                    n  = tanh(W_xn·x + W_hn·(r ⊙ h))             candidate (Cho et al. 2014, the
                                                                 tutorial's Theano GRU)
                    h' = (1 - z) ⊙ n + z ⊙ h
    lstm            i  = σ(W_xi·x + W_hi·h)                      input gate
                    f  = σ(W_xf·x + W_hf·h)                      forget gate
                    g  = tanh(W_xg·x + W_hg·h)                   candidate
                    o  = σ(W_xo·x + W_ho·h)                      output gate
                    c' = f ⊙ c + i ⊙ g
                    h' = o ⊙ tanh(c')
    peephole-lstm   as lstm, but i and f also read p_i ⊙ c and p_f ⊙ c, and o reads p_o ⊙ c'
                    (per-unit peephole weights p; Gers & Schmidhuber 2000)
    cifg-lstm       as lstm, but there is no input gate: i = 1 - f (coupled input and forget
                    gate; Greff et al. 2015)

σ is the logistic sigmoid or, as the tutorial's Theano model, hard_sigmoid(x) = clip(0.2x + 0.5, 0,
1). Weights are stored as PyTorch's fused layers store them (rows in the order r, z, n for the GRU
and i, f, g, o for the LSTM, names weight_ih_l0 …), so a fused layer's state dict loads into the
hand-written one and the two can be checked against each other.

Speed. The time loops run as plain Python ("eager"): measured on a 2-core CPU, TorchScript and
torch.compile were both slower for these cells (benchmarks/cell_speed.py measures the cells).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from charlm.model.kinds import CELL_KINDS, GATE_ACTIVATIONS, STEP, CellKind
from charlm.model.layered import LayeredRNN

# A layer's outputs (batch, time, hidden), its last h, and its last c (None without a cell state).
LayerResult = tuple[Tensor, Tensor, "Tensor | None"]


def gate(x: Tensor, hard: bool) -> Tensor:
    """σ: the logistic sigmoid, or Theano's hard_sigmoid clip(0.2x + 0.5, 0, 1)."""
    if hard:
        return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)
    return torch.sigmoid(x)


# Each layer function takes the input projections of every step at once, xw = W_x·x + b_x of shape
# (batch, time, rows * hidden): one large matrix product instead of one per step. Only W_h·h must
# wait for the previous step.


def rnn_layer(xw: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor,
              peephole: Tensor | None, hard: bool, reset_before: bool) -> LayerResult:
    outputs: list[Tensor] = []
    for t in range(xw.size(1)):
        h = torch.tanh(xw[:, t] + h.matmul(w_hh.t()) + b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h, None


def gru_layer(xw: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor,
              peephole: Tensor | None, hard: bool, reset_before: bool) -> LayerResult:
    outputs: list[Tensor] = []
    hidden = h.size(1)
    w_hn, b_hn = w_hh[2 * hidden :], b_hh[2 * hidden :]
    for t in range(xw.size(1)):
        x_r, x_z, x_n = xw[:, t].chunk(3, 1)
        if reset_before:
            h_r, h_z = (h.matmul(w_hh[: 2 * hidden].t()) + b_hh[: 2 * hidden]).chunk(2, 1)
            r = gate(x_r + h_r, hard)
            n = torch.tanh(x_n + (r * h).matmul(w_hn.t()) + b_hn)
        else:
            h_r, h_z, h_n = (h.matmul(w_hh.t()) + b_hh).chunk(3, 1)
            r = gate(x_r + h_r, hard)
            n = torch.tanh(x_n + r * h_n)
        z = gate(x_z + h_z, hard)
        h = (1.0 - z) * n + z * h
        outputs.append(h)
    return torch.stack(outputs, 1), h, None


def lstm_layer(xw: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor,
               peephole: Tensor | None, hard: bool, reset_before: bool) -> LayerResult:
    assert c is not None
    outputs: list[Tensor] = []
    for t in range(xw.size(1)):
        pre_i, pre_f, pre_g, pre_o = (xw[:, t] + h.matmul(w_hh.t()) + b_hh).chunk(4, 1)
        i = gate(pre_i, hard)
        f = gate(pre_f, hard)
        g = torch.tanh(pre_g)
        o = gate(pre_o, hard)
        c = f * c + i * g
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


def peephole_lstm_layer(xw: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor,
                        peephole: Tensor | None, hard: bool, reset_before: bool) -> LayerResult:
    assert c is not None and peephole is not None
    p_i, p_f, p_o = peephole[0], peephole[1], peephole[2]
    outputs: list[Tensor] = []
    for t in range(xw.size(1)):
        pre_i, pre_f, pre_g, pre_o = (xw[:, t] + h.matmul(w_hh.t()) + b_hh).chunk(4, 1)
        i = gate(pre_i + p_i * c, hard)
        f = gate(pre_f + p_f * c, hard)
        g = torch.tanh(pre_g)
        c = f * c + i * g
        o = gate(pre_o + p_o * c, hard)  # the output gate sees the new cell state
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


def cifg_lstm_layer(xw: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor,
                    peephole: Tensor | None, hard: bool, reset_before: bool) -> LayerResult:
    assert c is not None
    outputs: list[Tensor] = []
    for t in range(xw.size(1)):
        pre_f, pre_g, pre_o = (xw[:, t] + h.matmul(w_hh.t()) + b_hh).chunk(3, 1)
        f = gate(pre_f, hard)
        i = 1.0 - f
        g = torch.tanh(pre_g)
        o = gate(pre_o, hard)
        c = f * c + i * g
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


@dataclass(frozen=True)
class Cell:
    """A cell of CELL_KINDS (kinds.py) with what runs it: its time loop and its fused layer."""

    kind: CellKind
    layer: Callable[..., LayerResult]
    """The hand-written time loop (the equations above)."""
    fused: type[nn.Module] | None
    """PyTorch's fused layer computing the same cell with sigmoid gates (cuDNN on a GPU)."""


def _cell(kind: CellKind) -> Cell:
    # The kind names its time loop among the functions above, and its fused layer in torch.nn.
    return Cell(kind, globals()[kind.time_loop], getattr(nn, kind.fused) if kind.fused else None)


CELLS: dict[str, Cell] = {name: _cell(kind) for name, kind in CELL_KINDS.items()}


class HandWrittenRNN(LayeredRNN):
    """A stack of hand-written recurrent layers, called like nn.GRU / nn.LSTM with batch_first
    (layered.py: the sizes, the dropout between layers, weight drop and the state).

    forward(x (batch, time, input), state) → (outputs of the last layer (batch, time, hidden),
    state), where the state is h (layers, batch, hidden), or (h, c) for the LSTM family.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        gate_activation: str = "sigmoid",
        reset_before: bool = False,
        *,
        last_hidden_size: int = 0,
        dropout_mask: str = STEP,
        weight_drop: float = 0.0,
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        if gate_activation not in GATE_ACTIVATIONS:
            raise ValueError(f"unknown gate activation {gate_activation!r}")
        sizes = [hidden_size] * (num_layers - 1) + [last_hidden_size or hidden_size]
        super().__init__(cell, input_size, sizes, dropout, dropout_mask, weight_drop)
        self.hard = gate_activation == "hard-sigmoid"
        self.reset_before = reset_before

    def run_layer(self, k: int, x: Tensor, parts: list[Tensor], w_hh: Tensor
                  ) -> tuple[Tensor, list[Tensor]]:
        w_ih, _, b_ih, b_hh = self.layer_weights(k)
        xw = torch.nn.functional.linear(x, w_ih, b_ih)
        peephole = getattr(self, f"weight_peephole_l{k}", None)
        # A cell without a cell state is given h as c, and ignores it.
        x, h, c = CELLS[self.cell].layer(xw, parts[0], parts[-1], w_hh, b_hh, peephole,
                                         self.hard, self.reset_before)
        return x, [h] if c is None else [h, c]
