"""N-best lists scored with a trained model: each hypothesis's log-probability (its words and its
end of sentence), its unknown words, its combined score, and each utterance's 1-best.

Every token's surprisal comes from charlm.evaluation.scoring, the path `score` and `evaluate`
take: a hypothesis alone scores as `charlm score --split one-per-line` scores the same line. All
hypotheses of an utterance go through the model as one batch. In utterance context an utterance
shares its batch with those nearest it in length, up to batch_size hypotheses; in previous
context each utterance's hypotheses are read side by side from the state that the 1-bests chosen
before them leave, read as running text (document context's stream: SENTENCE_START, then the
words, sentence after sentence), and the 1-best chosen then carries the state on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from charlm.checkpoint.trained import TrainedModel
from charlm.data.reading import encode_sentences
from charlm.data.streams import sentence_starts
from charlm.data.types import EncodedSentences
from charlm.data.vocab import UNKNOWN_ID
from charlm.evaluation.ngram import NgramMix, interpolate, ngram_surprisals
from charlm.evaluation.scoring import token_surprisals
from charlm.generation.sampling import read_context
from charlm.model.state import State
from charlm.rescoring.nbest import LN10, Hypothesis
from charlm.rescoring.reading import NbestLists, Utterance
from charlm.rescoring.settings import UTTERANCE, Weights


@dataclass(frozen=True)
class RescoredHypothesis:
    """A hypothesis with the model's score and the combined score."""

    hypothesis: Hypothesis
    unknown: tuple[str, ...]
    """Its words outside the model's vocabulary, as the list writes them."""
    lm_log10_prob: float
    """Its log10 probability under the model (its words and its end of sentence), plus
    unk_penalty for each unknown word."""
    score: float
    """The combined score: am_weight · am + lm_weight · lm_log10_prob + word_penalty · words."""

    @property
    def lm_log_prob(self) -> float:
        """`lm_log10_prob` as a natural log."""
        return self.lm_log10_prob * LN10

    @property
    def word_count(self) -> int:
        return len(self.hypothesis.words)

    @property
    def oov(self) -> int:
        return len(self.unknown)


@dataclass(frozen=True)
class RescoredUtterance:
    """An utterance's hypotheses rescored, in the list's order, and which is the 1-best: the
    highest combined score (the first of equals)."""

    id: str
    hypotheses: tuple[RescoredHypothesis, ...]
    best_index: int

    @property
    def best(self) -> RescoredHypothesis:
        return self.hypotheses[self.best_index]


@dataclass(frozen=True)
class Rescoring:
    """N-best lists rescored: their format, what each hypothesis was read after, the utterances
    in the order read, and what reading the lists found wrong (one line each)."""

    format: str
    context: str
    utterances: list[RescoredUtterance]
    warnings: list[str]
    ngram: NgramMix | None = None
    """The n-gram model mixed into the model's probabilities, and its weight, if any."""

    @property
    def hypothesis_count(self) -> int:
        return sum(len(u.hypotheses) for u in self.utterances)

    @property
    def unknown_word_count(self) -> int:
        return sum(h.oov for u in self.utterances for h in u.hypotheses)


@dataclass(frozen=True)
class Rescorer:
    """A trained model (from `path`, for messages) on its device, the weights, how many
    hypotheses a batch reads at most (but an utterance of more is read in one batch still), and
    the n-gram model mixed in, if any."""

    trained: TrainedModel
    device: torch.device
    path: str
    weights: Weights
    batch_size: int
    ngram: NgramMix | None = None

    def rescore(self, lists: NbestLists, context: str) -> Rescoring:
        """Every hypothesis scored in `context`, and each utterance's 1-best chosen."""
        sentences, unknown = self._encoded(lists)
        read = self._each_alone if context == UTTERANCE else self._after_previous
        return Rescoring(lists.format, context, read(lists.utterances, sentences, unknown),
                         lists.warnings, self.ngram)

    def _encoded(self, lists: NbestLists) -> tuple[EncodedSentences, list[tuple[str, ...]]]:
        """Every hypothesis as the model reads it (its words, lowercased where the model's text
        was), and the unknown words of each. Refused when the model knows none of the words."""
        hypotheses = [h for u in lists.utterances for h in u.hypotheses]
        lowercase = self.trained.tokenizer.settings.lowercase
        words = [[w.lower() for w in h.words] if lowercase else list(h.words)
                 for h in hypotheses]
        files = lists.files
        read = encode_sentences([h.text for h in hypotheses], words,
                                files if len(files) == 1 else [f"the {len(files)} n-best lists"],
                                self.trained.vocabulary, self.path)
        sentences = read.sentences
        unknown = [tuple(word for word, i in zip(h.words, sentences.sentence(k))
                         if i == UNKNOWN_ID) for k, h in enumerate(hypotheses)]
        return sentences, unknown

    def _each_alone(self, utterances: Sequence[Utterance], sentences: EncodedSentences,
                    unknown: list[tuple[str, ...]]) -> list[RescoredUtterance]:
        """Utterance context: every hypothesis a sentence alone, each utterance's hypotheses
        in one batch, with those of the utterances nearest it in length (ordered by their
        longest hypothesis, as `score` orders sentences, so little of a batch is padding), up
        to batch_size."""
        log10 = np.empty(len(sentences), dtype=np.float64)
        starts = np.cumsum([0, *(len(u.hypotheses) for u in utterances)])
        order = np.argsort(np.maximum.reduceat(sentences.lengths, starts[:-1]), kind="stable")
        hypotheses = np.concatenate([np.arange(starts[k], starts[k + 1]) for k in order])
        for first, end in utterance_runs([utterances[k] for k in order], self.batch_size):
            indices = hypotheses[first:end]
            part = sentences.subset(indices)
            log10[indices] = self._log10_probs(part, self._token_log_probs(part))
        scored, first = [], 0
        for utterance in utterances:
            end = first + len(utterance.hypotheses)
            scored.append(self._scored(utterance, log10[first:end], unknown[first:end]))
            first = end
        return scored

    def _after_previous(self, utterances: Sequence[Utterance], sentences: EncodedSentences,
                        unknown: list[tuple[str, ...]]) -> list[RescoredUtterance]:
        """Previous context: each utterance's hypotheses read side by side, in one batch,
        after the 1-bests chosen before them; the state then runs on through the 1-best
        chosen."""
        state: State | None = None
        scored, first = [], 0
        for utterance in utterances:
            end = first + len(utterance.hypotheses)
            part = sentences.subset(np.arange(first, end))
            log10 = self._log10_probs(part, self._token_log_probs(part, state))
            rescored = self._scored(utterance, log10, unknown[first:end])
            scored.append(rescored)
            state = read_context(self.trained.model,
                                 [part.sentence(rescored.best_index).tolist()], state)
            first = end
        return scored

    def _token_log_probs(self, sentences: EncodedSentences,
                         before: State | None = None) -> np.ndarray:
        """The natural log-probability of every predicted token of some hypotheses (each one's
        words, then SENTENCE_END; laid out as token_surprisals lays them out), all read in one
        batch from `before` (None: a zero state), and mixed with the n-gram's probabilities of
        the same tokens when there is one. Every language-model score of a hypothesis is made of
        these."""
        batch = max(len(sentences), 1)
        surprisal = token_surprisals(self.trained.model, sentences, self.device, batch,
                                     before=before)
        if self.ngram is not None:
            surprisal = interpolate(surprisal, ngram_surprisals(
                self.ngram.model, sentences, self.trained.vocabulary), self.ngram.weight)
        return -surprisal

    @staticmethod
    def _log10_probs(sentences: EncodedSentences, token_log_probs: np.ndarray) -> np.ndarray:
        """Each hypothesis's log10 probability: the sum of its tokens' log-probabilities."""
        return np.add.reduceat(token_log_probs, sentence_starts(sentences)) / LN10

    def _scored(self, utterance: Utterance, log10: np.ndarray,
                unknown: Sequence[tuple[str, ...]]) -> RescoredUtterance:
        """An utterance's hypotheses with their model log10 probabilities combined, and its
        1-best."""
        weights = self.weights
        hypotheses = []
        for hypothesis, model_log10, oov in zip(utterance.hypotheses, log10, unknown):
            lm = weights.lm_score(float(model_log10), len(oov))
            hypotheses.append(RescoredHypothesis(
                hypothesis, oov, lm, weights.combined(hypothesis.am, lm, len(hypothesis.words))))
        best = max(range(len(hypotheses)), key=lambda i: hypotheses[i].score)
        return RescoredUtterance(utterance.id, tuple(hypotheses), best)


def utterance_runs(utterances: Sequence[Utterance], batch_size: int) -> Iterator[tuple[int, int]]:
    """The hypotheses (first, end) of runs of whole utterances in order, each run of at most
    `batch_size` hypotheses but where one utterance alone has more: a run is read as one
    batch, so an utterance's hypotheses are never parted."""
    first = end = 0
    for utterance in utterances:
        count = len(utterance.hypotheses)
        if end > first and end - first + count > batch_size:
            yield first, end
            first = end
        end += count
    if end > first:
        yield first, end
