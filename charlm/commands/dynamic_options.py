"""The dynamic-evaluation flags that `evaluate` and `score` share: each field here is declared
once, with its help and its default from DynamicSettings, and checked by DynamicSettings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from charlm.errors import ConfigError
from charlm.evaluation.dynamic_settings import BOUNDS, DynamicSettings
from charlm.options import flag_name, option

DEFAULTS = DynamicSettings()
# Each setting of DynamicSettings, by the field of a command's config that gives it.
FIELDS = {"dynamic_segment": "segment_tokens", "dynamic_rate": "rate",
          "dynamic_decay": "decay", "dynamic_gradients": "gradients_from"}


def dynamic_option() -> Any:
    return option(
        False,
        "Dynamic evaluation: the model adapts to the text while reading it, in order, segment "
        "by segment; each segment is scored before the model learns from it. Needs the "
        "checkpoint charlm train wrote with RMSprop, Adam or AdamW (their mean squared "
        "gradients), or --dynamic-gradients; the checkpoint is never changed.",
    )


def segment_option() -> Any:
    return _bounded("segment_tokens", "With --dynamic: tokens per segment, in whole sentences; "
                    "one step after each.")


def rate_option() -> Any:
    return _bounded("rate", "With --dynamic: the step size (η), scaled by training's mean "
                    "squared gradients as an RMSprop step of training is; 0 adapts nothing.")


def decay_option() -> Any:
    return _bounded("decay", "With --dynamic: the share of the way back to the trained weights "
                    "taken at each step (λ).")


def gradients_option() -> Any:
    return option(None, "With --dynamic: a text (the training text) on which to measure the "
                  "mean squared gradients that divide each step, read in segments as the text "
                  "scored is, in place of the checkpoint's; needed for a model trained with "
                  "SGD or NT-ASGD, which keep none.")


def _bounded(setting: str, help: str) -> Any:
    low, high = BOUNDS[setting]
    return option(getattr(DEFAULTS, setting), help, minimum=low, maximum=high)


def dynamic_settings(config: Any, sources: Mapping[str, str] | None = None
                     ) -> DynamicSettings | bool:
    """The settings a command's --dynamic flags give, or False without --dynamic; refuses, in
    one line, a bad value, and a --dynamic-* setting given without --dynamic. `sources` says
    how each was given (its flag or variable), for the messages."""
    def source(name: str) -> str:
        return (sources or {}).get(name, flag_name(name))

    values = {setting: getattr(config, name) for name, setting in FIELDS.items()}
    if not config.dynamic:
        changed = [name for name, setting in FIELDS.items()
                   if values[setting] != getattr(DEFAULTS, setting)]
        if changed:
            raise ConfigError(f"{source(changed[0])} applies only with --dynamic; add "
                              "--dynamic or drop it")
        return False
    settings = DynamicSettings(**values)
    if settings.gradients_from is not None and not Path(settings.gradients_from).exists():
        raise ConfigError(f"{source('dynamic_gradients')}: file not found: "
                          f"{settings.gradients_from}; check the path")
    problem = settings.problem({setting: source(name) for name, setting in FIELDS.items()})
    if problem:
        raise ConfigError(problem)
    return settings
