"""Interpolation with an n-gram model: each predicted token's probability mixed linearly with an
n-gram model's probability of the same token, P = λ·P_ngram + (1 − λ)·P_charlm, and the λ that
suits a development text, found by expectation-maximisation.

The n-gram side is KenLM's (ARPA files, or KenLM's binary), through its Python module, the
`ngram` extra. Both models predict the same tokens: a sentence's words, then its end (charlm's
SENTENCE_END is the n-gram's `</s>`); the n-gram reads each sentence from `<s>`, in whatever
context charlm reads it. A word charlm reads as UNKNOWN_TOKEN is given to the n-gram as `<unk>`, so
both models give the probability of an unknown word; a word charlm knows and the n-gram does not
gets the n-gram's `<unk>` probability (KenLM's rule). The words go to the n-gram as charlm's
vocabulary writes them (lowercased when the model lowercases).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from charlm.data.types import EncodedSentences
from charlm.data.vocab import UNKNOWN_ID, Vocabulary
from charlm.distribution import install_hint
from charlm.errors import CharlmError, ConfigError
from charlm.evaluation.ngram_settings import weight_problem

LN10 = math.log(10.0)
NGRAM_UNKNOWN = "<unk>"
# Expectation-maximisation stops when λ moves less than this in one iteration.
WEIGHT_TOLERANCE = 1e-7
WEIGHT_ITERATIONS = 500


def _kenlm_reason(message: str) -> str:
    """The sentence of a KenLM error that says what is wrong, without its C++ source lines."""
    found = re.search(r"Exception\.\s*(.+?)\.(?:\s|$)", message)
    return found.group(1) if found else message.split(" (", 1)[0]


class NgramModel:
    """An n-gram model read by KenLM, scoring sentences token by token."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if not Path(path).is_file():
            raise ConfigError(f"n-gram model not found: {path}; give an ARPA file or a KenLM "
                              "binary")
        try:
            import kenlm
        except ModuleNotFoundError:
            raise CharlmError("interpolating with an n-gram model needs KenLM's Python module "
                              f"(kenlm is not installed): {install_hint('ngram')}; it builds "
                              "from source, with a C++ compiler") from None
        # KenLM's C++ would otherwise draw a progress bar on the process's stderr; charlm's
        # library functions print nothing.
        quiet = kenlm.Config()
        quiet.show_progress = False
        quiet.arpa_complain = kenlm.ARPALoadComplain.NONE
        try:
            self._model: Any = kenlm.Model(self.path, quiet)
        except (OSError, RuntimeError) as error:
            raise ConfigError(f"{path} is not an n-gram model KenLM reads "
                              f"({_kenlm_reason(str(error))}); give an ARPA file or a KenLM "
                              "binary") from None

    @property
    def order(self) -> int:
        return int(self._model.order)

    def sentence_log10_probs(self, words: Sequence[str]) -> list[float]:
        """log10 P of each word of a sentence read from `<s>`, then of `</s>`."""
        return [score for score, _, _ in
                self._model.full_scores(" ".join(words), bos=True, eos=True)]


@dataclass(frozen=True)
class NgramMix:
    """An n-gram model and its weight λ in the mixture."""

    model: NgramModel
    weight: float
    chosen_on: str | None = None
    """The development text λ was chosen on (`best_weight`), or None: λ was given."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, NgramModel):
            raise ConfigError(f"an NgramMix mixes an NgramModel, not {self.model!r}: make it "
                              "with Model.ngram_mix(path, weight)")
        problem = weight_problem(self.weight, None, {"weight": "weight=", "dev": "dev="})
        if problem:
            raise ConfigError(problem)

    def describe(self) -> dict[str, str | float | int]:
        """As an evaluation's summary records it."""
        return {"path": self.model.path, "order": self.model.order, "weight": self.weight,
                **({"chosen_on": self.chosen_on} if self.chosen_on else {})}


def checked_mix(ngram: object) -> NgramMix | None:
    """The `ngram=` argument of a scoring method, refused before any work unless it is None or
    an NgramMix."""
    if ngram is None or isinstance(ngram, NgramMix):
        return ngram
    raise ConfigError(f"ngram=: {ngram!r} is not an n-gram mixture; give "
                      "model.ngram_mix(path, weight)")


def ngram_surprisals(model: NgramModel, sentences: EncodedSentences,
                     vocabulary: Vocabulary) -> np.ndarray:
    """The n-gram's surprisal in nats of every predicted token, laid out as
    charlm.evaluation.scoring.token_surprisals lays out charlm's."""
    words = np.array([NGRAM_UNKNOWN if i == UNKNOWN_ID else word
                      for i, word in enumerate(vocabulary.words)], dtype=object)
    log10 = [score for i in range(len(sentences))
             for score in model.sentence_log10_probs(words[sentences.sentence(i)])]
    return -np.asarray(log10, dtype=np.float64) * LN10


def interpolate(charlm: np.ndarray, ngram: np.ndarray, weight: float) -> np.ndarray:
    """The surprisal of each token under λ·P_ngram + (1 − λ)·P_charlm (λ = `weight`), from the
    two models' surprisals; λ 0 and 1 give each model's own exactly."""
    if weight == 0.0:
        return charlm.copy()
    if weight == 1.0:
        return ngram.copy()
    with np.errstate(divide="ignore"):
        mixed = -np.log(weight * np.exp(-ngram) + (1.0 - weight) * np.exp(-charlm))
    tiny = ~np.isfinite(mixed)  # both probabilities below a float's range
    mixed[tiny] = -np.logaddexp(math.log(weight) - ngram[tiny],
                                math.log(1.0 - weight) - charlm[tiny])
    return mixed


def best_weight(charlm: np.ndarray, ngram: np.ndarray) -> float:
    """The λ that gives the tokens (two models' surprisals of the same tokens) their highest
    likelihood under the mixture, by expectation-maximisation from λ = 0.5: each step sets λ
    to the mean share of the n-gram in each token's probability."""
    weight = 0.5
    for _ in range(WEIGHT_ITERATIONS):
        from_ngram = math.log(weight) - ngram
        share = np.exp(from_ngram - np.logaddexp(from_ngram, math.log(1.0 - weight) - charlm))
        updated = min(max(float(share.mean()), 1e-12), 1.0 - 1e-12)
        if abs(updated - weight) < WEIGHT_TOLERANCE:
            return updated
        weight = updated
    return weight

