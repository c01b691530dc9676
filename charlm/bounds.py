"""The bounds of the settings a trained model is used with, written once and without torch: the
commands declare their flags with them (generate, complete, score, evaluate) and the Python API
checks its arguments against them (charlm.options.check_arguments), so a value is refused in
the same words from either, the flag named on a command line and the argument from Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from charlm.data.corpus import SPLIT_CHOICES
from charlm.data.settings import CONTEXTS
from charlm.devices import DEVICE_CHOICES
from charlm.errors import ConfigError


class Bounds(TypedDict, total=False):
    """A setting's bounds as `charlm.options.option` takes them: `minimum` and `maximum`
    inclusive, `above` exclusive, or the `choices`."""

    minimum: float
    maximum: float
    above: float
    choices: tuple[str, ...]


TEMPERATURE: Bounds = {"above": 0.0, "maximum": 100.0}
SEED: Bounds = {"minimum": 0, "maximum": 2**32 - 1}
BEAM: Bounds = {"minimum": 0, "maximum": 1000}

# `charlm generate`'s flags, `Model.sample`'s and `Model.generate`'s arguments.
GENERATE: dict[str, Bounds] = {
    "count": {"minimum": 1, "maximum": 1_000_000},
    "temperature": TEMPERATURE,
    "min_words": {"minimum": 0},
    "max_words": {"minimum": 1},
    "top_k": {"minimum": 0},
    "top_p": {"above": 0.0, "maximum": 1.0},
    "seed": SEED,
    "beam": BEAM,
}
# `charlm complete`'s flags, `Model.complete`'s arguments (--next-words is their `k`, and
# `Model.next_words`'s).
COMPLETE: dict[str, Bounds] = {
    "next_words": {"minimum": 1, "maximum": 10_000},
    "max_words": {"minimum": 1, "maximum": 1000},
    "temperature": TEMPERATURE,
    "seed": SEED,
    "beam": BEAM,
}
# What every command that reads text with a model shares (`charlm.load`'s arguments too).
READING: dict[str, Bounds] = {
    "batch_size": {"minimum": 1, "maximum": 65536},
    "split": {"choices": SPLIT_CHOICES},
    "context": {"choices": CONTEXTS},
    "device": {"choices": DEVICE_CHOICES},
}
# The settings that only shape sampling, with the values that leave the model's distribution as
# it is: a beam searches the model's own distribution, so any other value is refused with it.
SAMPLING_ONLY: dict[str, Any] = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "greedy": False}


def word_range_problem(min_words: int, max_words: int, name: Callable[[str], str]) -> str | None:
    """Why no sentence could qualify between `min_words` and `max_words`, or None; `name` says
    how to call each setting in the message."""
    if min_words > max_words:
        return (f"{name('min_words')}={min_words} is above {name('max_words')}={max_words}: "
                "no sentence could qualify")
    return None


def check_beam(beam: int, count: int, settings: Mapping[str, Any],
               name: Callable[[str], str]) -> None:
    """Refuse settings that cannot go together with a beam of width `beam` (0: no beam, nothing
    to refuse): a setting of SAMPLING_ONLY other than its neutral value (`settings` holds those
    the caller takes; others are ignored), or more sentences (`count`) than the beam keeps.
    `name` says how to call each setting in the message."""
    if not beam:
        return
    for setting, neutral in SAMPLING_ONLY.items():
        if setting in settings and settings[setting] != neutral:
            raise ConfigError(f"{name('beam')}={beam} searches for the likeliest sentences and "
                              f"{name(setting)} shapes only sampling: drop one of them")
    if count > beam:
        raise ConfigError(f"{name('count')}={count} asks for more sentences than "
                          f"{name('beam')}={beam} keeps; ask for at most {beam}, or widen the beam")
