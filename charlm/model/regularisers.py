"""The regularisers of training (Gal & Ghahramani 2016; Merity et al. 2018, "Regularizing and
Optimizing LSTM Language Models"). Each acts only while the model trains: evaluation, scoring,
generation and export compute the whole model.

- Dropout masks hold 0 or 1/(1 - p), so the expected value of what they multiply is unchanged.
  A locked mask has one value per row and unit, held for every time step of a window
  (variational dropout); a step mask draws anew at every step (ordinary dropout).
- Embedding dropout drops whole words: rows of the embedding matrix, for one step, so every
  occurrence of a dropped word in the batch reads a zero vector.
- Weight drop (DropConnect) multiplies each hidden-to-hidden matrix by a mask drawn once a
  window; the recurrent layers run on the dropped matrix (layered.py), the stored one is
  changed only by the optimizer.
- AR and TAR are penalties added to the training objective: α · the mean square of the last
  layer's dropped output, and β · the mean square of the change in its undropped output from
  one step to the next. Positions without a target (padding) enter neither.

Every mask is drawn from torch's random generators, which a checkpoint saves: a resumed run draws
the masks an uninterrupted one would have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from charlm.model.kinds import LOCKED


def keep_mask(shape: tuple[int, ...] | torch.Size, p: float, like: Tensor) -> Tensor:
    """A mask of `shape` (on `like`'s device, of its dtype): 0 with probability p, else
    1 / (1 - p)."""
    return like.new_empty(shape).bernoulli_(1.0 - p).div_(1.0 - p)


def locked_mask(x: Tensor, p: float) -> Tensor:
    """A mask for x (rows, time, units): one value per row and unit, the same at every step."""
    return keep_mask((x.size(0), 1, x.size(2)), p, x)


def drop(x: Tensor, p: float, mask: str, training: bool) -> Tensor:
    """x (rows, time, units) with dropout p, its mask `locked` or `step` (kinds.py); x itself
    outside training or at p = 0."""
    if not training or p == 0.0:
        return x
    if mask == LOCKED:
        return x * locked_mask(x, p)
    return F.dropout(x, p, training=True)


def dropped_words(weight: Tensor, p: float) -> Tensor:
    """The embedding matrix (words, units) with whole words zeroed with probability p, the
    others scaled by 1 / (1 - p)."""
    return weight * keep_mask((weight.size(0), 1), p, weight)


def mean_square(values: Tensor, weights: Tensor) -> Tensor:
    """The mean of values² (positions..., units) over the positions whose weight is 1 (weights
    of shape positions..., 0 or 1) and every unit; 0 where no position counts."""
    squares = values.float().pow(2).sum(-1)
    counted = weights.to(squares.dtype)
    return (squares * counted).sum() / (counted.sum() * values.size(-1)).clamp(min=1.0)


def activation_penalty(dropped: Tensor, counted: Tensor, alpha: float) -> Tensor:
    """AR: α · the mean square of the last layer's dropped output `dropped` (positions, units),
    over the positions `counted` (positions,) marks."""
    return alpha * mean_square(dropped, counted)


def temporal_penalty(undropped: Tensor, pairs: Tensor, beta: float) -> Tensor:
    """TAR: β · the mean square of h[t] - h[t-1], the last layer's undropped output
    (rows, time, units), over the pairs of consecutive positions `pairs` (rows, time - 1) marks."""
    return beta * mean_square(undropped[:, 1:] - undropped[:, :-1], pairs)
