"""A checkpoint brought back to life: the model with its vocabulary and tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from charlm.checkpoint import load_checkpoint
from charlm.errors import CheckpointError
from charlm.model import ModelConfig, RNNLanguageModel
from charlm.tokenizer import Tokenizer, TokenizerSettings
from charlm.vocab import Vocabulary


@dataclass
class TrainedModel:
    model: RNNLanguageModel
    vocabulary: Vocabulary
    tokenizer: Tokenizer
    document: dict[str, Any]


def load_trained(path: str | Path, device: torch.device | str = "cpu") -> TrainedModel:
    """Load a checkpoint into a ready model in eval mode."""
    document = load_checkpoint(path)
    try:
        model = RNNLanguageModel(ModelConfig.from_dict(document["model_config"]))
        model.load_state_dict(document["model_state"])
        vocabulary = Vocabulary(document["vocabulary"])
        tokenizer = Tokenizer(TokenizerSettings.from_dict(document["tokenizer"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is a charlm checkpoint with missing or inconsistent parts "
            f"({type(error).__name__}: {str(error).splitlines()[0][:80]})"
        ) from None
    model.to(device).eval()
    return TrainedModel(model, vocabulary, tokenizer, document)
