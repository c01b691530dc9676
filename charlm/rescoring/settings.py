"""How hypotheses are scored and combined, without torch: the contexts, the weights of the
combined score, and the bounds `Model.rescore` checks its arguments against (`charlm rescore`'s
flags declare the same)."""

from __future__ import annotations

from dataclasses import dataclass

from charlm.bounds import Bounds
from charlm.rescoring.formats import NBEST_FORMAT_NAMES

UTTERANCE = "utterance"
PREVIOUS = "previous"
# What each hypothesis is read after: nothing (each a sentence alone), or the 1-bests chosen for
# the utterances before it, as running text.
RESCORE_CONTEXTS = (UTTERANCE, PREVIOUS)

# `charlm rescore`'s flags, `Model.rescore`'s arguments: the weights are any finite numbers.
RESCORING: dict[str, Bounds] = {
    "nbest_format": {"choices": NBEST_FORMAT_NAMES},
    "context": {"choices": RESCORE_CONTEXTS},
    "am_weight": {},
    "lm_weight": {},
    "word_penalty": {},
    "unk_penalty": {},
}


@dataclass(frozen=True)
class Weights:
    """The combined score of a hypothesis, in log10 (higher is better):
    am_weight · am + lm_weight · lm + word_penalty · words, where lm is the model's log10
    probability of the hypothesis plus unk_penalty for each of its unknown words."""

    am_weight: float = 1.0
    lm_weight: float = 1.0
    word_penalty: float = 0.0
    unk_penalty: float = 0.0

    def lm_score(self, model_log10: float, unknown: int) -> float:
        """The language-model score: the model's log10 probability, and the penalty of each
        unknown word (whose probability is the model's of UNKNOWN_TOKEN)."""
        return model_log10 + self.unk_penalty * unknown

    def combined(self, am: float, lm: float, words: int) -> float:
        return self.am_weight * am + self.lm_weight * lm + self.word_penalty * words
