"""A checkpoint brought back to life: the model with its vocabulary and tokenizer, and what its
training measured of its gradients."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.data.settings import CONTEXTS
from charlm.data.tokenizer import Tokenizer, TokenizerSettings
from charlm.data.vocab import Vocabulary
from charlm.errors import CheckpointError
from charlm.evaluation.dynamic import TrainingGradients
from charlm.model.network import ModelConfig, RNNLanguageModel


@dataclass
class TrainedModel:
    model: RNNLanguageModel
    vocabulary: Vocabulary
    tokenizer: Tokenizer
    checkpoint: Checkpoint


def load_trained(path: str | Path, device: torch.device | str = "cpu") -> TrainedModel:
    """Load a checkpoint into a ready model in eval mode."""
    checkpoint = read_checkpoint(path)
    try:
        model = RNNLanguageModel(ModelConfig.from_dict(checkpoint.model_config))
        model.load_state_dict(checkpoint.model_state)
        vocabulary = Vocabulary(checkpoint.vocabulary, checkpoint.written_forms)
        tokenizer = Tokenizer(TokenizerSettings.from_dict(checkpoint.tokenizer))
        if checkpoint.reads_context not in CONTEXTS:
            raise ValueError(f"unknown context {checkpoint.reads_context!r}")
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is a charlm checkpoint with missing or inconsistent parts "
            f"({type(error).__name__}: {str(error).splitlines()[0][:80]})"
        ) from None
    model.to(device).eval()
    return TrainedModel(model, vocabulary, tokenizer, checkpoint)


def training_gradients(trained: TrainedModel, path: str | Path) -> TrainingGradients:
    """RMSprop's mean squared gradients of training (the checkpoint's optimizer state), one per
    parameter of the model, for dynamic evaluation; refused in one line when the checkpoint has
    none that fit."""
    state = trained.checkpoint.optimizer_state
    if not state:
        raise CheckpointError(
            f"{path} holds no optimizer state (a model-only checkpoint): dynamic evaluation "
            "divides each step by the mean squared gradients training collected; use the "
            "checkpoint charlm train wrote, or score without dynamic evaluation")
    parameters = list(trained.model.parameters())
    try:
        group = state["param_groups"][0]
        averages = [state["state"][index]["square_avg"] for index in group["params"]]
        epsilon, decay = float(group["eps"]), float(group["alpha"])
        shapes = [tuple(average.shape) for average in averages]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        averages, epsilon, decay, shapes = [], 0.0, 0.0, []
    if shapes != [tuple(p.shape) for p in parameters]:
        raise CheckpointError(
            f"{path} has optimizer state that does not fit its model (not RMSprop's mean "
            "squared gradients of each weight): dynamic evaluation needs them; score without "
            "dynamic evaluation")
    return TrainingGradients([a.float() for a in averages], epsilon, decay)
