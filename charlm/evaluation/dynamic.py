"""Dynamic evaluation (Krause et al., 2018, "Dynamic Evaluation of Neural Sequence Models"): the
model adapts to the text it scores as it reads it.

The text is read in order, in segments of consecutive sentences. Each segment is scored first (its
surprisals are the ones reported: no token is scored by weights that have learned from it), then
the weights take one step on that segment's loss:

    θ ← θ − η·g/(√ms + ε) + λ·(θ₀ − θ)

g is the gradient of the segment's mean loss per token, ms the mean squared gradients RMSprop
collected on the training text (a checkpoint's optimizer state) and ε its epsilon, so a step is
shaped as a training step is; θ₀ are the trained weights, which the decay pulls back towards.
ε is added after the root, as RMSprop adds it.

A model trained with Adam or AdamW gives its exp_avg_sq, the same running mean with its own decay
(β₂, 0.999), divided by 1 − β₂^t after t steps as Adam's own steps divide it; one trained with SGD
(or NT-ASGD) kept no such mean, and is refused with a line that says so.

RMSprop's ms is a running mean over the last few steps (decay α, 0.9 by default), so a weight
training had not moved for a while (the embedding of a rare word) has a tiny ms, and g/√ms would
throw it far. Each weight's g/(√ms + ε) is therefore held within ±1/√(1 − α), the most an RMSprop
step of training can move a weight (in units of its rate): RMSprop takes the step's own gradient
into ms first. On a novel held out from training this lets larger rates adapt without a blow-up,
and the best perplexity is the same as without the bound.

The weights that adapt are a copy: the model given, and the checkpoint it came from, never change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from charlm.checkpoint.optimizers import OPTIMIZER_KINDS, SquaredGradients
from charlm.checkpoint.trained import TrainedModel
from charlm.errors import CheckpointError
from charlm.evaluation.dynamic_settings import DynamicSettings
from charlm.model.network import RNNLanguageModel


@dataclass
class TrainingGradients:
    """What training measured of its gradients: the optimiser's running mean of each squared
    gradient (one tensor per parameter, in model.parameters() order), its epsilon, and the
    decay α of that running mean."""

    square_averages: list[torch.Tensor]
    epsilon: float
    decay: float

    @property
    def step_bound(self) -> float:
        """The most |g|/√ms can be in an RMSprop step, which first takes g into ms."""
        return 1.0 / math.sqrt(1.0 - self.decay) if self.decay < 1.0 else math.inf


def training_gradients(trained: TrainedModel, path: str | Path) -> TrainingGradients:
    """The mean squared gradients of training (the checkpoint's optimizer state), one per
    parameter of the model, for dynamic evaluation; refused in one line when the checkpoint has
    none that fit."""
    checkpoint = trained.checkpoint
    state = checkpoint.optimizer_state
    if not state:
        raise CheckpointError(
            f"{path} holds no optimizer state (a model-only checkpoint): dynamic evaluation "
            "divides each step by the mean squared gradients training collected; use the "
            "checkpoint charlm train wrote, or score without dynamic evaluation")
    kind = OPTIMIZER_KINDS.get(checkpoint.optimizer)
    if kind is None or kind.squares is None:
        raise CheckpointError(
            f"{path} was trained with --optimizer {checkpoint.optimizer}, which keeps no mean "
            "squared gradients: dynamic evaluation divides each step by those of RMSprop, Adam "
            "or AdamW; measure them on the training text with --dynamic-gradients TRAIN.txt "
            "(gradients_from=), or score without dynamic evaluation")
    try:
        gradients = square_averages(state, kind.squares)
        shapes = [tuple(average.shape) for average in gradients.square_averages]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        gradients, shapes = None, []
    if gradients is None or shapes != [tuple(p.shape) for p in trained.model.parameters()]:
        raise CheckpointError(
            f"{path} has optimizer state that does not fit its model (not {kind.torch_class}'s "
            "mean squared gradients of each weight): dynamic evaluation needs them; score "
            "without dynamic evaluation")
    return gradients


def square_averages(state: dict, squares: SquaredGradients) -> TrainingGradients:
    """The mean squared gradients an optimiser's state keeps where `squares` says, divided by
    1 − decay^step where its steps divide them so."""
    group = state["param_groups"][0]
    decay = group[squares.decay_key]
    decay = float(decay if squares.decay_index is None else decay[squares.decay_index])
    averages = []
    for index in group["params"]:
        weight_state = state["state"][index]
        average = weight_state[squares.state_key].float()
        if squares.bias_corrected:
            average = average / (1.0 - decay ** float(weight_state["step"]))
        averages.append(average)
    return TrainingGradients(averages, float(group["eps"]), decay)


def reading_segments(lengths: np.ndarray, segment_tokens: int) -> list[np.ndarray]:
    """Consecutive sentence indices, in reading order, cut into segments: each ends with the
    sentence that brings its predicted tokens (words and SENTENCE_END) to `segment_tokens`; the
    last holds what is left."""
    ends = []
    count = 0
    for index, tokens in enumerate((lengths + 1).tolist()):
        count += tokens
        if count >= segment_tokens:
            ends.append(index + 1)
            count = 0
    if not ends or ends[-1] != len(lengths):
        ends.append(len(lengths))
    starts = [0, *ends[:-1]]
    return [np.arange(start, end) for start, end in zip(starts, ends) if end > start]


# Measured mean squared gradients are divided as RMSprop's are, with PyTorch's RMSprop epsilon,
# and a step is bounded as after RMSprop at its usual decay.
MEASURED_EPSILON = 1e-8
MEASURED_DECAY = 0.9


class GradientMeter:
    """Reads a text as dynamic evaluation reads the text it scores, segment by segment, without
    adapting: each segment's gradient (of its mean loss per token) is squared and averaged over
    the segments, the mean squared gradients Krause et al. measure on the training text. A copy
    of the model reads (nothing dropped); the model given never changes."""

    def __init__(self, model: RNNLanguageModel, settings: DynamicSettings) -> None:
        self.settings = settings
        self.model = RNNLanguageModel(model.config.without_dropout()).to(
            next(model.parameters()).device)
        self.model.load_state_dict(model.state_dict())
        self.model.train()
        self.sums = [torch.zeros_like(p) for p in self.model.parameters()]
        self.segments = 0

    @torch.no_grad()
    def step(self) -> None:
        """Take the segment's squared gradients into the sums, and clear them."""
        for weight, total in zip(self.model.parameters(), self.sums):
            if weight.grad is not None:
                total.add_(weight.grad.square())
            weight.grad = None
        self.segments += 1

    def gradients(self) -> TrainingGradients:
        averages = [total.float().cpu() / max(self.segments, 1) for total in self.sums]
        return TrainingGradients(averages, MEASURED_EPSILON, MEASURED_DECAY)


class Adaptation:
    """The weights that adapt while reading: a copy of a model (nothing dropped), the trained
    weights they decay towards, each weight's step divisor √ms + ε, and the bound on a step."""

    def __init__(self, model: RNNLanguageModel, settings: DynamicSettings,
                 gradients: TrainingGradients) -> None:
        device = next(model.parameters()).device
        self.settings = settings
        self.model = RNNLanguageModel(model.config.without_dropout()).to(device)
        self.model.load_state_dict(model.state_dict())
        # Training mode, so a GPU's recurrent layers can take gradients; with nothing dropped it
        # computes what evaluation mode does.
        self.model.train()
        parameters = list(self.model.parameters())
        self.trained = [p.detach().clone() for p in parameters]
        self.divisors = [average.to(device).sqrt().add(gradients.epsilon)
                         for average in gradients.square_averages]
        self.bound = gradients.step_bound
        shapes = [tuple(p.shape) for p in parameters]
        if [tuple(d.shape) for d in self.divisors] != shapes:
            raise ValueError("the mean squared gradients do not match the model's parameters")

    @torch.no_grad()
    def step(self) -> None:
        """One step on the gradients accumulated since the last: θ ← θ − η·g/(√ms + ε) +
        λ·(θ₀ − θ), g/(√ms + ε) held within the bound; then the gradients are cleared for the
        next segment."""
        rate, decay = self.settings.rate, self.settings.decay
        for weight, trained, divisor in zip(self.model.parameters(), self.trained,
                                            self.divisors):
            pull = (trained - weight).mul_(decay)
            if weight.grad is not None:
                normalised = weight.grad.div_(divisor).clamp_(-self.bound, self.bound)
                weight.add_(normalised, alpha=-rate)
            weight.add_(pull)
            weight.grad = None
