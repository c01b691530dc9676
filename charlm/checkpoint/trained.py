"""A checkpoint brought back to life: the model with its vocabulary and tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.data.settings import CONTEXTS
from charlm.data.tokenizer import Tokenizer, TokenizerSettings
from charlm.data.vocab import Vocabulary
from charlm.errors import CheckpointError, first_line
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
            f"({type(error).__name__}: {first_line(error)})"
        ) from None
    model.to(device).eval()
    return TrainedModel(model, vocabulary, tokenizer, checkpoint)
