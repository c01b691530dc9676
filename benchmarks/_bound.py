"""The matrix-product bound of a training step: its products, timed alone at their own shapes.

A step of an embedding → stacked GRU/LSTM → full softmax model is, in floating-point work, almost
all matrix products: the input-side products of every layer over all positions at once, the
hidden-side products one time step at a time, the output layer, and the backward of each (two
products apiece: the gradient of the input and of the weight). Timing each product alone, with
torch.mm at the step's own shape and thread count, gives the least time the step could take on
this machine; the share of that bound a step reaches says how much of its time is the products.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import torch

# Positions the output layer takes at a time on a CPU (charlm.model.network's blocks).
from charlm.model.network import CPU_SCORES_PER_BLOCK


@dataclass(frozen=True)
class Shape:
    """(m × k) @ (k × n)."""

    m: int
    k: int
    n: int

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.k * self.n


def forward_and_backward(m: int, k: int, n: int) -> list[Shape]:
    """A product (m × k) @ (k × n), and the two products of its backward."""
    return [Shape(m, k, n), Shape(m, n, k), Shape(k, m, n)]


def step_products(rows: int, steps: int, embedding: int, hidden: int, layers: int, vocab: int,
                  gates: int = 3, output_block: int | None = None) -> Counter[Shape]:
    """Every product of one training step over rows × steps predicted positions, with how often
    each shape occurs; a full output layer in blocks of `output_block` positions (None: at once)."""
    return (recurrence_products(rows, steps, embedding, hidden, layers, gates)
            + full_output_products(rows * steps, hidden, vocab, output_block))


def recurrence_products(rows: int, steps: int, embedding: int, hidden: int, layers: int,
                        gates: int = 3) -> Counter[Shape]:
    positions = rows * steps
    products: Counter[Shape] = Counter()
    for layer in range(layers):
        inputs = embedding if layer == 0 else hidden
        products.update(forward_and_backward(positions, inputs, gates * hidden))
        for shape in forward_and_backward(rows, hidden, gates * hidden):
            products[shape] += steps
    return products


def full_output_products(positions: int, hidden: int, scores: int,
                         block: int | None = None) -> Counter[Shape]:
    """A linear layer from `hidden` to `scores` over every position, in blocks of `block`."""
    products: Counter[Shape] = Counter()
    block = block or positions
    whole, rest = divmod(positions, block)
    for shape in forward_and_backward(block, hidden, scores):
        products[shape] += whole
    if rest:
        products.update(forward_and_backward(rest, hidden, scores))
    return products


def adaptive_output_products(positions: int, hidden: int, head: int,
                             clusters: list[tuple[float, int, int]],
                             block: int | None = None) -> Counter[Shape]:
    """An adaptive softmax's products: the head over every position (in blocks), and each
    cluster (share of the positions whose target lies in it, projection width, words) on its
    share of the positions: a projection, then its words' scores."""
    products = full_output_products(positions, hidden, head, block)
    for share, width, words in clusters:
        rows = max(1, round(share * positions))
        products.update(forward_and_backward(rows, hidden, width))
        products.update(forward_and_backward(rows, width, words))
    return products


def charlm_block(vocab: int) -> int:
    return max(1, CPU_SCORES_PER_BLOCK // vocab)


def seconds_of(shape: Shape, repeats: int = 5) -> float:
    """The best time of torch.mm at this shape, in seconds."""
    a, b = torch.randn(shape.m, shape.k), torch.randn(shape.k, shape.n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return best


@dataclass(frozen=True)
class Bound:
    seconds: float  # the products' least time for one step
    flops: float
    tokens: int

    @property
    def gflops(self) -> float:
        """The rate the products reach at the step's shapes."""
        return self.flops / self.seconds / 1e9

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def bound(products: Counter[Shape], tokens: int, repeats: int = 5) -> Bound:
    measured = {shape: seconds_of(shape, repeats) for shape in products}
    return Bound(sum(measured[shape] * count for shape, count in products.items()),
                 sum(shape.flops * count for shape, count in products.items()), tokens)
