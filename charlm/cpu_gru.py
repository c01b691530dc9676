"""A faster way to train PyTorch's GRU layers on the CPU.

PyTorch's CPU GRU multiplies the input by its weights one time step at a time and lets autograd
take every step's weight gradient as its own small matrix product. Here the input projections of
all steps are one matrix product, the backward pass is written out by hand, and each weight
gradient is one matrix product over all steps. Per step only the recurrent product and the gate
arithmetic remain. The equations and the weights (an nn.GRU's own parameters) are PyTorch's:

    r = σ(W_ir x + b_ir + W_hr h + b_hr)          z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  h' = (1 − z) ⊙ n + z ⊙ h
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _GRULayer(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
    ) -> Tensor:
        steps, batch, _ = x.shape
        hidden = h0.shape[1]
        two = 2 * hidden
        input_gates = torch.addmm(b_ih, x.reshape(steps * batch, -1), w_ih.t())
        input_gates = input_gates.view(steps, batch, 3 * hidden)
        # The input side of the reset and update gates is added by the recurrent product itself
        # (as its bias); the candidate's needs the reset gate first.
        bias = torch.cat([input_gates[..., :two] + b_hh[:two],
                          b_hh[two:].expand(steps, batch, hidden)], dim=2)
        # Per step: the pre-activations of r and z, then W_hn h + b_hn.
        hidden_gates = x.new_empty(steps, batch, 3 * hidden)
        reset_update = x.new_empty(steps, batch, two)
        candidates = x.new_empty(steps, batch, hidden)
        out = x.new_empty(steps, batch, hidden)
        w_hh_t = w_hh.t()
        h = h0
        for t in range(steps):
            gates = torch.addmm(bias[t], h, w_hh_t, out=hidden_gates[t])
            rz = torch.sigmoid(gates[:, :two], out=reset_update[t])
            n = torch.tanh(torch.addcmul(input_gates[t, :, two:], rz[:, :hidden], gates[:, two:]),
                           out=candidates[t])
            h = torch.lerp(n, h, rz[:, hidden:], out=out[t])
        ctx.save_for_backward(x, h0, w_ih, w_hh, out, hidden_gates, reset_update, candidates)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, h0, w_ih, w_hh, out, hidden_gates, reset_update, candidates = ctx.saved_tensors
        steps, batch, hidden = out.shape
        two = 2 * hidden
        grad_out = grad_out.contiguous()
        r, z = reset_update[..., :hidden], reset_update[..., hidden:]
        n, hn = candidates, hidden_gates[..., two:]
        previous = torch.cat([h0[None], out[:-1]])
        # Every factor that does not depend on the incoming gradient is computed for all steps
        # at once; the sequential loop is left with a handful of operations per step.
        d_n = (1 - z) * (1 - n * n)  # ∂h'/∂(pre-activation of n), per unit of dh
        coefficients = torch.cat(
            [d_n * hn * r * (1 - r), (previous - n) * z * (1 - z), d_n * r], dim=2
        ).view(steps, batch, 3, hidden)
        grad_hidden_gates = x.new_empty(steps, batch, 3, hidden)
        grad_h = x.new_empty(steps, batch, hidden)
        dh = torch.zeros_like(h0)
        for t in range(steps - 1, -1, -1):
            dh = torch.add(dh, grad_out[t], out=grad_h[t])
            d_gates = torch.mul(dh.unsqueeze(1), coefficients[t], out=grad_hidden_gates[t])
            dh = torch.addmm(dh * z[t], d_gates.view(batch, 3 * hidden), w_hh)
        flat_gh = grad_hidden_gates.view(steps * batch, 3 * hidden)
        # The reset and update gates sit inside the same sums on the input and hidden side.
        grad_input_gates = torch.cat([grad_hidden_gates.view(steps, batch, 3 * hidden)[..., :two],
                                      grad_h * d_n], dim=2)
        flat_gi = grad_input_gates.view(steps * batch, 3 * hidden)
        grad_x = (flat_gi @ w_ih).view_as(x) if ctx.needs_input_grad[0] else None
        return (
            grad_x,
            dh if ctx.needs_input_grad[1] else None,
            flat_gi.t() @ x.reshape(steps * batch, -1),
            flat_gh.t() @ previous.view(steps * batch, hidden),
            flat_gi.sum(0),
            flat_gh.sum(0),
        )


def can_use(rnn: nn.Module, embedded: Tensor) -> bool:
    """Whether `gru_forward` can stand in for `rnn` here: a training pass of an nn.GRU on CPU."""
    return (
        type(rnn) is nn.GRU
        and embedded.device.type == "cpu"
        and embedded.dtype in (torch.float32, torch.float64)
        and torch.is_grad_enabled()
        and rnn.batch_first
        and rnn.bias
        and not rnn.bidirectional
    )


def gru_forward(rnn: nn.GRU, embedded: Tensor, state: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
    """What `rnn(embedded, state)` returns for a batch-first nn.GRU, computed as above."""
    layer_input = embedded.transpose(0, 1).contiguous()
    batch = embedded.shape[0]
    if state is None:
        state = embedded.new_zeros(rnn.num_layers, batch, rnn.hidden_size)
    finals = []
    for layer in range(rnn.num_layers):
        out = _GRULayer.apply(
            layer_input,
            state[layer],
            getattr(rnn, f"weight_ih_l{layer}"),
            getattr(rnn, f"weight_hh_l{layer}"),
            getattr(rnn, f"bias_ih_l{layer}"),
            getattr(rnn, f"bias_hh_l{layer}"),
        )
        finals.append(out[-1])
        last = layer == rnn.num_layers - 1
        layer_input = out if last else F.dropout(out, rnn.dropout, rnn.training)
    return layer_input.transpose(0, 1), torch.stack(finals)
