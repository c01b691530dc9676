"""The optimiser of a run, built from its entry in OPTIMIZER_KINDS (checkpoint/optimizers.py);
the uniform initialisation of --init-range; and the refusal of settings that the optimiser or
schedule chosen does not take."""

from __future__ import annotations

import torch

from charlm.checkpoint.optimizers import OPTIMIZER_KINDS, own_settings
from charlm.errors import ConfigError
from charlm.model.network import RNNLanguageModel
from charlm.options import flag_name, given_fields, source_of
from charlm.training.averaging import NonMonotoneSwitch
from charlm.training.config import TrainConfig
from charlm.training.schedule import LR_SCHEDULES


def build_optimizer(config: TrainConfig, model: RNNLanguageModel) -> torch.optim.Optimizer:
    """The optimiser --optimizer names, over the model's weights, with the settings it takes."""
    kind = OPTIMIZER_KINDS[config.optimizer]
    arguments = {argument: getattr(config, setting) for setting, argument in kind.settings.items()}
    return getattr(torch.optim, kind.torch_class)(model.parameters(), **arguments)


def nonmonotone_switch(config: TrainConfig) -> NonMonotoneSwitch | None:
    """NT-ASGD's switch to averaging, for an optimiser that averages."""
    return NonMonotoneSwitch(config.nonmono) if OPTIMIZER_KINDS[config.optimizer].averages else None


def apply_given_settings(optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
    """A resumed run: the optimiser's settings given now replace the checkpoint's."""
    given = given_fields(config)
    for setting, argument in OPTIMIZER_KINDS[config.optimizer].settings.items():
        if setting in given:
            for group in optimizer.param_groups:
                group[argument] = getattr(config, setting)


@torch.no_grad()
def initialise_uniformly(model: RNNLanguageModel, init_range: float) -> None:
    """Every weight, biases included, uniform in [-init_range, init_range], as Zaremba et al.
    initialise theirs."""
    for parameter in model.parameters():
        parameter.uniform_(-init_range, init_range)


@torch.no_grad()
def initialise_embedding(model: RNNLanguageModel, init_range: float) -> None:
    """The embedding matrix uniform in [-init_range, init_range], as AWD-LSTM initialises its
    (tied) embedding: the layer's own N(0, 1) is far too wide for a tied output layer."""
    model.embedding.weight.uniform_(-init_range, init_range)


def check_optimisation(config: TrainConfig) -> None:
    """Refuse, in one line, a setting given that the optimiser or schedule chosen does not take,
    and a second average of the weights beside NT-ASGD's. Made on the run's settings once a
    resumed run has taken the checkpoint's optimiser and schedule."""
    optimizers = {name: own_settings(name) for name in OPTIMIZER_KINDS}
    refuse_others_settings(config, "optimizer", optimizers)
    refuse_others_settings(config, "lr_schedule",
                           {name: tuple(schedule.SETTINGS)
                            for name, schedule in LR_SCHEDULES.items()})
    if OPTIMIZER_KINDS[config.optimizer].averages and config.weight_average > 0:
        raise ConfigError(f"{as_given(config, 'optimizer')} averages the weights uniformly from "
                          f"its switch on, and {as_given(config, 'weight_average')} would average "
                          "them a second way: give --weight-average 0 with it")
    for setting in ("init_range", "embedding_init_range"):
        if config.init_from is not None and setting in given_fields(config):
            raise ConfigError(f"{source_of(config, setting)} sets a new model's first weights, "
                              f"and {source_of(config, 'init_from')} starts from the model's "
                              "own: leave it out")


def refuse_others_settings(config: TrainConfig, choice: str,
                           takes: dict[str, tuple[str, ...]]) -> None:
    """Refuse a setting given that some of the choices (`takes`: each choice's settings) take
    but the one chosen by the setting `choice` does not."""
    chosen = takes[getattr(config, choice)]
    refused = sorted(set().union(*takes.values()) & given_fields(config) - set(chosen))
    if refused:
        setting = refused[0]
        takers = [name for name, settings in takes.items() if setting in settings]
        raise ConfigError(f"{source_of(config, setting)} is a setting of {flag_name(choice)} "
                          f"{' and '.join(takers)}, and {as_given(config, choice)} does not "
                          "take it: leave it out")


def as_given(config: TrainConfig, name: str) -> str:
    """A setting as the user gave it (or would have), for messages: --optimizer adam,
    CHARLM_OPTIMIZER=adam, optimizer='adam'."""
    source, value = source_of(config, name), getattr(config, name)
    if source.startswith("--"):
        return f"{source} {value}"
    return f"{source}{value!r}" if source.endswith("=") else f"{source}={value}"
