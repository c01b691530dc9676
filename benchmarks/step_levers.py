"""Ways to make the training step faster that were measured and not kept, each against what
charlm does, in turn.

    python benchmarks/step_levers.py [--rows 128] [--window 35] [--repeats 10] [--rounds 2]
        [--threads 0] [--compile] [--halves]

At the default model's sizes (embedding 48, two GRU layers of 128, 2,000 words) and one step's
shape (--rows × --window positions), each lever is timed against charlm's own way, forward and
backward, in alternating rounds:

- the recurrence: PyTorch's nn.GRU (charlm) against a GRU layer written with its own backward
  (a few fused operations a time step, the weight gradient of every step in one product);
- the output layer and its loss, in charlm's blocks of positions: linear then cross-entropy
  (charlm) against one function that makes the scores' gradient in the forward pass
  (softmax − one-hot, in place) and leaves the backward its two products;
- with --compile, the GRU's time step, and the output layer with its loss, each compiled by
  torch.compile (they compile first, for a while);
- with --halves, the whole step (embedding, recurrence, output and loss) over all the rows with
  the cores' threads inside each operation (charlm) against two halves of the rows stepped at
  once in two threads of one core each, their gradients summed; and the whole step, and a half,
  on one thread, which shows what the second core adds.

Prints the milliseconds of each, per round, and the largest difference of their results.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from _common import configure
from torch import nn

from charlm.model.network import CPU_SCORES_PER_BLOCK

aten = torch.ops.aten
EMBEDDING, HIDDEN, LAYERS, VOCABULARY = 48, 128, 2, 2000


class ExplicitGRULayer(torch.autograd.Function):
    """One GRU layer over a sequence (time-major), with the backward written out."""

    @staticmethod
    def forward(ctx, gi, h0, w_hh, b_hh):  # noqa: ANN001, ANN205
        steps, batch, gates = gi.shape
        hidden = gates // 3
        gh, rz = gi.new_empty(steps, batch, gates), gi.new_empty(steps, batch, 2 * hidden)
        n, out = gi.new_empty(steps, batch, hidden), gi.new_empty(steps, batch, hidden)
        h = h0
        for t in range(steps):
            torch.addmm(b_hh, h, w_hh.t(), out=gh[t])
            torch.add(gi[t, :, : 2 * hidden], gh[t, :, : 2 * hidden], out=rz[t]).sigmoid_()
            torch.addcmul(gi[t, :, 2 * hidden :], rz[t, :, :hidden], gh[t, :, 2 * hidden :],
                          out=n[t]).tanh_()
            h = torch.lerp(n[t], h, rz[t, :, hidden:], out=out[t])
        ctx.save_for_backward(h0, w_hh, gh, rz, n, out)
        return out, h

    @staticmethod
    def backward(ctx, d_out, d_last):  # noqa: ANN001, ANN205
        h0, w_hh, gh, rz, n, out = ctx.saved_tensors
        steps, batch, hidden = out.shape
        dgi, dgh = out.new_empty(steps, batch, 3 * hidden), out.new_empty(steps, batch,
                                                                          3 * hidden)
        dh = d_last.clone() if d_last is not None else out.new_zeros(batch, hidden)
        for t in range(steps - 1, -1, -1):
            if d_out is not None:
                dh.add_(d_out[t])
            r, z = rz[t, :, :hidden], rz[t, :, hidden:]
            dn = torch.addcmul(dh, dh, z, value=-1.0)
            dz = torch.sub(out[t - 1] if t else h0, n[t]).mul_(dh)
            da = dgi[t, :, 2 * hidden :]
            aten.tanh_backward.grad_input(dn, n[t], grad_input=da)
            aten.sigmoid_backward.grad_input(dz, z, grad_input=dgi[t, :, hidden : 2 * hidden])
            aten.sigmoid_backward.grad_input(torch.mul(da, gh[t, :, 2 * hidden :]), r,
                                             grad_input=dgi[t, :, :hidden])
            dgh[t, :, : 2 * hidden].copy_(dgi[t, :, : 2 * hidden])
            torch.mul(da, r, out=dgh[t, :, 2 * hidden :])
            dh = torch.addmm(dh.mul_(z), dgh[t], w_hh)
        previous = torch.cat([h0[None], out[:-1]]).view(-1, hidden)
        flat = dgh.view(-1, 3 * hidden)
        return dgi, dh, flat.t().mm(previous), flat.sum(0)


def explicit_gru(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    layer_input = x.transpose(0, 1)
    for k in range(gru.num_layers):
        gi = F.linear(layer_input, getattr(gru, f"weight_ih_l{k}"),
                      getattr(gru, f"bias_ih_l{k}")).contiguous()
        h0 = x.new_zeros(x.size(0), gru.hidden_size)
        layer_input, _ = ExplicitGRULayer.apply(gi, h0, getattr(gru, f"weight_hh_l{k}"),
                                                getattr(gru, f"bias_hh_l{k}"))
    return layer_input.transpose(0, 1)


def gru_step(gi: torch.Tensor, h: torch.Tensor, w_t: torch.Tensor, b: torch.Tensor
             ) -> torch.Tensor:
    gh = torch.addmm(b, h, w_t)
    rz = torch.sigmoid(gi[:, : 2 * HIDDEN] + gh[:, : 2 * HIDDEN])
    n = torch.tanh(gi[:, 2 * HIDDEN :] + rz[:, :HIDDEN] * gh[:, 2 * HIDDEN :])
    return n + rz[:, HIDDEN:] * (h - n)


def stepped_gru(gru: nn.GRU, x: torch.Tensor, step: Callable) -> torch.Tensor:
    layer_input = x.transpose(0, 1)
    for k in range(gru.num_layers):
        gi = F.linear(layer_input, getattr(gru, f"weight_ih_l{k}"), getattr(gru, f"bias_ih_l{k}"))
        w_t, b = getattr(gru, f"weight_hh_l{k}").t(), getattr(gru, f"bias_hh_l{k}")
        h, outputs = x.new_zeros(x.size(0), HIDDEN), []
        for t in range(gi.size(0)):
            h = step(gi[t], h, w_t, b)
            outputs.append(h)
        layer_input = torch.stack(outputs)
    return layer_input.transpose(0, 1)


class GradientInForward(torch.autograd.Function):
    """Summed cross-entropy of a linear layer, the scores' gradient made in the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets):  # noqa: ANN001, ANN205
        scores = torch.addmm(bias, hidden, weight.t())
        normaliser = torch.logsumexp(scores, dim=1, keepdim=True)
        total = (normaliser - scores.gather(1, targets[:, None])).sum()
        gradient = scores.sub_(normaliser).exp_()
        gradient.scatter_add_(1, targets[:, None], gradient.new_full((len(targets), 1), -1.0))
        ctx.save_for_backward(hidden, weight, gradient)
        return total

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        hidden, weight, gradient = ctx.saved_tensors
        return (gradient.mm(weight).mul_(grad), gradient.t().mm(hidden).mul_(grad),
                gradient.sum(0).mul_(grad), None)


def separate(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
             targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(F.linear(hidden, weight, bias), targets, reduction="sum")


def output_loss(function: Callable, hidden: torch.Tensor, layer: nn.Linear,
                targets: torch.Tensor) -> torch.Tensor:
    block = CPU_SCORES_PER_BLOCK // VOCABULARY
    return sum(function(hidden[s : s + block], layer.weight, layer.bias, targets[s : s + block])
               for s in range(0, len(targets), block))


def whole_step(rows: int, window: int) -> Callable[[slice], torch.Tensor]:
    """The default model's forward and backward over some of `rows` × `window` positions."""
    embedding, gru = nn.Embedding(VOCABULARY, EMBEDDING), nn.GRU(EMBEDDING, HIDDEN, LAYERS,
                                                                  batch_first=True)
    layer = nn.Linear(HIDDEN, VOCABULARY)
    inputs, targets = (torch.randint(0, VOCABULARY, (rows, window)) for _ in range(2))

    def step(part: slice) -> torch.Tensor:
        hidden = gru(embedding(inputs[part]))[0].reshape(-1, HIDDEN)
        loss = output_loss(separate, hidden, layer, targets[part].reshape(-1))
        (loss / (rows * window)).backward()
        return loss.detach()[None]
    return step


def halves(rows: int, window: int, repeats: int, rounds: int, threads: int) -> None:
    step = whole_step(rows, window)
    everything, first, second = slice(0, rows), slice(0, rows // 2), slice(rows // 2, rows)
    pool = ThreadPoolExecutor(2)

    def in_two_threads() -> torch.Tensor:
        return sum(task.result() for task in [pool.submit(step, first), pool.submit(step, second)])

    ways = {f"whole step, {threads} threads (charlm)": (threads, lambda: step(everything)),
            "two halves at once, a thread each": (1, in_two_threads),
            "whole step, 1 thread": (1, lambda: step(everything)),
            "half the rows, 1 thread": (1, lambda: step(first))}
    print(f"{rows} rows x {window} steps, ms forward and backward:")
    for round_ in range(1, rounds + 1):
        for name, (ways_threads, run) in ways.items():
            torch.set_num_threads(ways_threads)
            ms, _ = timed(run, repeats, backward=False)
            print(f"  round {round_}: {name}: {ms:.1f} ms", flush=True)
    torch.set_num_threads(threads)


def timed(run: Callable[[], torch.Tensor], repeats: int, backward: bool = True
          ) -> tuple[float, torch.Tensor]:
    def once() -> torch.Tensor:
        result = run()
        if backward:
            result.sum().backward()
        return result
    for _ in range(2):
        once()
    started = time.perf_counter()
    for _ in range(repeats):
        result = once()
    return (time.perf_counter() - started) / repeats * 1000, result.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--window", type=int, default=35)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--halves", action="store_true")
    args = parser.parse_args()
    threads = configure(args.threads)
    if args.halves:
        halves(args.rows, args.window, args.repeats, args.rounds, threads)
        return
    torch.manual_seed(0)
    gru = nn.GRU(EMBEDDING, HIDDEN, LAYERS, batch_first=True)
    layer = nn.Linear(HIDDEN, VOCABULARY)
    x = torch.randn(args.rows, args.window, EMBEDDING, requires_grad=True)
    positions = args.rows * args.window
    hidden = torch.randn(positions, HIDDEN, requires_grad=True)
    targets = torch.randint(0, VOCABULARY, (positions,))
    levers = {
        "recurrence: nn.GRU (charlm)": lambda: gru(x)[0],
        "recurrence: written-out backward": lambda: explicit_gru(gru, x),
        "output and loss: separate (charlm)": lambda: output_loss(separate, hidden, layer,
                                                                  targets)[None],
        "output and loss: gradient in the forward": lambda: output_loss(
            GradientInForward.apply, hidden, layer, targets)[None],
    }
    if args.compile:
        compiled = torch.compile(gru_step, dynamic=False)
        started = time.perf_counter()
        stepped_gru(gru, x, compiled).sum().backward()
        print(f"torch.compile of the time step: {time.perf_counter() - started:.1f} s to compile")
        levers["recurrence: eager time steps"] = lambda: stepped_gru(gru, x, gru_step)
        levers["recurrence: compiled time steps"] = lambda: stepped_gru(gru, x, compiled)
        compiled_loss = torch.compile(separate, dynamic=False)
        started = time.perf_counter()
        output_loss(compiled_loss, hidden, layer, targets).backward()
        print(f"torch.compile of the output and loss: {time.perf_counter() - started:.1f} s "
              "to compile")
        levers["output and loss: eager"] = lambda: output_loss(separate, hidden, layer,
                                                               targets)[None]
        levers["output and loss: compiled"] = lambda: output_loss(compiled_loss, hidden, layer,
                                                                  targets)[None]
    print(f"{args.rows} rows x {args.window} steps, {threads} threads, ms forward and backward:")
    results: dict[str, torch.Tensor] = {}
    for round_ in range(1, args.rounds + 1):
        for name, run in levers.items():
            ms, results[name] = timed(run, args.repeats)
            print(f"  round {round_}: {name}: {ms:.1f} ms", flush=True)
    names = list(results)
    for first, second in zip(names[::2], names[1::2]):
        gap = float((results[first] - results[second]).abs().max())
        print(f"  largest difference, {first.split(':')[0]}: {gap:.1e}")


if __name__ == "__main__":
    main()
