"""The n-gram interpolation flags that `evaluate`, `score` and `rescore` share, each declared
once here and checked by charlm.evaluation.ngram."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charlm.errors import ConfigError
from charlm.evaluation.ngram_settings import DEFAULT_WEIGHT, parse_weight, weight_problem
from charlm.options import flag_name, option

if TYPE_CHECKING:
    from charlm.api import Model
    from charlm.evaluation.ngram import NgramMix


def ngram_option() -> Any:
    return option(None, "An n-gram model (ARPA, or KenLM's binary) to interpolate with, word by "
                  "word: P = λ·P_ngram + (1 − λ)·P_charlm. Needs the ngram extra (KenLM).")


def ngram_weight_option() -> Any:
    return option(str(DEFAULT_WEIGHT), "With --ngram: λ, the n-gram's share from 0 to 1, or auto: "
                  "the λ that gives --ngram-dev its highest likelihood (chosen by EM and "
                  "printed).")


def ngram_dev_option() -> Any:
    return option(None, "With --ngram-weight auto: the development text λ is chosen on (the "
                  "reference transcripts of development data), read in the context the text "
                  "scored is read in (rescore: a line a sentence).")


def check_ngram(config: Any, sources: Mapping[str, str] | None = None) -> None:
    """Refuse, in one line, bad n-gram settings of a command's config, named as given."""
    def source(name: str) -> str:
        return (sources or {}).get(name, flag_name(name))

    if config.ngram is None:
        if parse_weight(config.ngram_weight) != DEFAULT_WEIGHT or config.ngram_dev is not None:
            name = "ngram_dev" if config.ngram_dev is not None else "ngram_weight"
            raise ConfigError(f"{source(name)} applies only with --ngram; add --ngram FILE or "
                              "drop it")
        return
    problem = weight_problem(config.ngram_weight, config.ngram_dev,
                             {"weight": source("ngram_weight"), "dev": source("ngram_dev")})
    if problem:
        raise ConfigError(problem)
    for name in ("ngram", "ngram_dev"):
        if getattr(config, name) is not None and not Path(getattr(config, name)).is_file():
            raise ConfigError(f"{source(name)}: file not found: {getattr(config, name)}; check "
                              "the path")


def ngram_mix(model: Model, config: Any, context: str | None = None, split: str | None = None
              ) -> NgramMix | None:
    """The n-gram a command's config mixes in, or None; with --ngram-weight auto, λ chosen on
    --ngram-dev read with `split`, in `context`."""
    if config.ngram is None:
        return None
    return model.ngram_mix(config.ngram, config.ngram_weight, config.ngram_dev, context, split)
