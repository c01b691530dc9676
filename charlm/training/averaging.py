"""The averages of the weights that reports measure and checkpoints hold as the model:
--weight-average's moving one, and NT-ASGD's uniform one with the switch that starts it.

RMSprop's normalised steps move every weight by about the learning rate at each step, so the
last step's weights scatter around where training is heading: on a synthetic chain, the
validation perplexity of successive reports swung by 5-10% at a constant rate. Their
exponential moving average sits near the centre of that scatter, and training can keep a rate
high enough to go on learning.

NT-ASGD (Merity et al. 2018, "Regularizing and Optimizing LSTM Language Models") trains with plain
SGD until the validation loss stops improving by its non-monotone rule, then averages every step's
weights from there on, each alike.
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
        torch._foreach_lerp_(self._averaged, list(model.parameters()), self.new_weight())

    def new_weight(self) -> float:
        """The share of the average the step just taken gets."""
        return 1.0 - min(self.decay, self.updates / (WARM_UP_STEPS + self.updates))

    def state_dict(self, training_weights: dict[str, torch.Tensor]) -> dict[str, Any]:
        """For the checkpoint, whose model_state holds the average: the steps averaged and the
        last step's weights, which --resume trains on from."""
        return {"updates": self.updates, "training_weights": training_weights}

    def load(self, averaged_weights: dict[str, torch.Tensor], updates: int) -> None:
        self.model.load_state_dict(averaged_weights)
        self.updates = updates


class UniformAverage(WeightAverage):
    """NT-ASGD's average: the mean of the weights after each step since it began, each alike.
    Before its first step it is the weights it began with."""

    def __init__(self, model: RNNLanguageModel) -> None:
        super().__init__(model, decay=1.0)

    def new_weight(self) -> float:
        return 1.0 / self.updates


class NonMonotoneSwitch:
    """NT-ASGD's trigger: averaging starts at the first report whose validation loss is worse
    than the best of the reports before the last `nonmono` (once there are more than
    `nonmono` before it), and then goes on for the rest of the run. The paper validates once
    an epoch; here every report counts, as --print-every makes them."""

    def __init__(self, nonmono: int) -> None:
        self.nonmono = nonmono
        self.losses: list[float] = []  # the validation losses of the reports before the switch
        self.switched_at: int | None = None  # the report (counted from 1) that switched

    @property
    def switched(self) -> bool:
        return self.switched_at is not None

    def observe(self, val_loss: float) -> bool:
        """Record a report's validation loss; True when it switches to averaging."""
        if self.switched:
            return False
        earlier = self.losses[:-self.nonmono]
        self.losses.append(val_loss)
        if len(self.losses) - 1 > self.nonmono and val_loss > min(earlier):
            self.switched_at = len(self.losses)
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"losses": list(self.losses), "switched_at": self.switched_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = [float(loss) for loss in state["losses"]]
        switched = state["switched_at"]
        self.switched_at = None if switched is None else int(switched)
