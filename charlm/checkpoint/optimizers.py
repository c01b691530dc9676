"""The optimisers charlm trains with, named and described without PyTorch: the class of
torch.optim that takes each one's steps, the settings it takes, and what its state in a checkpoint
holds.

The settings offer these names, and --help and shell completion list them, without loading torch;
training/optimizers.py builds each one from its entry, and dynamic evaluation reads the mean squared
gradients that an entry says its state keeps. A new optimiser is one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The tutorial's optimiser, and every run's before others existed (a checkpoint's settings that
# name none were trained with it).
DEFAULT_OPTIMIZER = "rmsprop"


@dataclass(frozen=True)
class SquaredGradients:
    """Where an optimiser's state keeps its running mean of each weight's squared gradient."""

    state_key: str
    """The key of the mean in each weight's state."""
    decay_key: str
    """The param group's key of the mean's decay ..."""
    decay_index: int | None = None
    """... or of a pair of decays, this one of which is the mean's (Adam's betas: the second)."""
    bias_corrected: bool = False
    """Its steps divide the mean by 1 - decay^step, as Adam's do, since the mean starts at zero."""


@dataclass(frozen=True)
class OptimizerKind:
    """An optimiser: how it is built and what its state holds."""

    torch_class: str
    """The class of torch.optim that takes its steps."""
    settings: Mapping[str, str]
    """Each setting (a field of TrainConfig) it takes, with the name of torch_class's argument
    and param-group key that receives it."""
    rule_settings: tuple[str, ...] = ()
    """The settings of its own that no torch argument receives (NT-ASGD's switch)."""
    averages: bool = False
    """NT-ASGD: the weights are averaged uniformly from its switch on."""
    squares: SquaredGradients | None = None
    """Its mean squared gradients, which dynamic evaluation divides its steps by; None: it keeps
    none."""
    description: str = ""
    """What it is, in a few words, for `charlm info`."""


SGD_SETTINGS = {"learning_rate": "lr", "weight_decay": "weight_decay"}

# The one list of optimisers: adding one is one entry here.
OPTIMIZER_KINDS: dict[str, OptimizerKind] = {
    "rmsprop": OptimizerKind(
        "RMSprop", SGD_SETTINGS | {"decay": "alpha", "epsilon": "eps"},
        squares=SquaredGradients("square_avg", "alpha"), description="RMSprop"),
    "sgd": OptimizerKind("SGD", SGD_SETTINGS, description="plain SGD"),
    "asgd": OptimizerKind("SGD", SGD_SETTINGS, rule_settings=("nonmono",), averages=True,
                          description="NT-ASGD"),
    "adam": OptimizerKind(
        "Adam", SGD_SETTINGS,
        squares=SquaredGradients("exp_avg_sq", "betas", 1, bias_corrected=True),
        description="Adam"),
    "adamw": OptimizerKind(
        "AdamW", SGD_SETTINGS,
        squares=SquaredGradients("exp_avg_sq", "betas", 1, bias_corrected=True),
        description="AdamW (decoupled weight decay)"),
}


def own_settings(name: str) -> tuple[str, ...]:
    """Every setting the optimiser `name` takes, torch's arguments and its own rule's."""
    kind = OPTIMIZER_KINDS[name]
    return (*kind.settings, *kind.rule_settings)

