"""The moving average of the weights that reports measure and checkpoints hold as the model.

RMSprop's normalised steps move every weight by about the learning rate at each step, so the
last step's weights scatter around where training is heading: on a synthetic chain, the
validation perplexity of successive reports swung by 5-10% at a constant rate. Their
exponential moving average sits near the centre of that scatter, and training can keep a rate
high enough to go on learning.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from charlm.model.network import RNNLanguageModel

# The average starts short and lengthens to 1 / (1 - decay) steps: early on it follows a model
# that is still far from where it will go, as the weights' own moving average would not.
WARM_UP_STEPS = 10


class WeightAverage:
    """An exponential moving average of a model's weights, itself a model."""

    def __init__(self, model: RNNLanguageModel, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).requires_grad_(False).eval()
        self._averaged = list(self.model.parameters())

    @torch.no_grad()
    def update(self, model: RNNLanguageModel) -> None:
        """Take one more step's weights into the average."""
        self.updates += 1
        decay = min(self.decay, self.updates / (WARM_UP_STEPS + self.updates))
        torch._foreach_lerp_(self._averaged, list(model.parameters()), 1.0 - decay)

    def state_dict(self, training_weights: dict[str, torch.Tensor]) -> dict[str, Any]:
        """For the checkpoint, whose model_state holds the average: the steps averaged and the
        last step's weights, which --resume trains on from."""
        return {"updates": self.updates, "training_weights": training_weights}

    def load(self, averaged_weights: dict[str, torch.Tensor], updates: int) -> None:
        self.model.load_state_dict(averaged_weights)
        self.updates = updates
