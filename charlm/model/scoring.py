"""Scoring encoded sentences with a model: the one evaluation path of training's validation,
`evaluate`, `score` and the Python API.

Every predicted token counts: each word after SENTENCE_START and the closing SENTENCE_END, never
padding. Every caller computes every token's surprisal here, in the same batches, and summarises
those surprisals here, so their figures agree to the last digit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from charlm.data.batches import make_batch
from charlm.data.prepare import EncodedSentences
from charlm.data.vocab import UNKNOWN_ID
from charlm.model.dynamic import Adaptation, reading_segments
from charlm.model.dynamic_settings import DynamicSettings
from charlm.model.network import RNNLanguageModel

# Bound on the scores one batch materialises (sentences × steps × vocabulary) on a device that
# takes a batch's output layer at once, so a large vocabulary or long sentences never exhaust
# memory.
LOGIT_BUDGET = 16_000_000
BATCH_SIZE = 256
LN2 = math.log(2.0)
LN10 = math.log(10.0)
# exp() of more than this overflows a float; such a perplexity is reported as exp(700).
MAX_EXPONENT = 700.0


@dataclass
class Evaluation:
    """The summary of a scoring; `loss` is nats per predicted token."""

    files: list[str]
    sentences: int
    tokens: int  # predicted tokens: words plus one SENTENCE_END per sentence
    words: int
    oov_words: int
    oov_rate: float
    loss: float
    perplexity: float
    bits_per_word: float
    log_prob: float  # natural log-probability of every predicted token together
    log10_prob: float
    perplexity_excluding_unknown: float  # over the tokens whose target is not UNKNOWN_TOKEN
    split: list[str] = field(default_factory=list)  # how each file's text was cut
    warnings: list[str] = field(default_factory=list)  # what reading found wrong, one line each
    dynamic: bool = False  # whether the model adapted to the text while reading it (dynamic.py)
    dynamic_settings: dict[str, float] | None = None  # then its DynamicSettings, as a dict


@dataclass
class SentenceScore:
    """One sentence's score, as a row of `charlm score`."""

    number: int
    """Its place in the input, from 1."""
    text: str
    """The sentence as the input writes it, or as the model's tokenizer normalises it (no
    truecasing, or a checkpoint without the corpus's written forms)."""
    words: list[str]
    """Its words as the model's tokenizer splits them."""
    unknown: list[str]
    """The words the vocabulary lacks, read as UNKNOWN_TOKEN."""
    tokens: int
    """Predicted tokens: its words and SENTENCE_END."""
    log_prob: float
    """Natural log-probability of the sentence, SENTENCE_END included."""

    @property
    def oov(self) -> int:
        return len(self.unknown)

    @property
    def log10_prob(self) -> float:
        return self.log_prob / LN10

    @property
    def perplexity(self) -> float:
        return perplexity_of(-self.log_prob / self.tokens)


def _batches(lengths: np.ndarray, batch_size: int, vocab_size: int) -> Iterator[np.ndarray]:
    """Length-sorted batches of sentence indices, smaller where sentences are long."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        size = min(batch_size, len(order) - start)
        while size > 1 and size * (int(lengths[order[start + size - 1]]) + 1) * vocab_size > (
            LOGIT_BUDGET
        ):
            size //= 2
        yield order[start : start + size]
        start += size


def sentence_starts(sentences: EncodedSentences) -> np.ndarray:
    """Where each sentence's predicted tokens start in `token_surprisals`'s result."""
    return sentences.offsets[:-1] + np.arange(len(sentences))


def token_surprisals(
    model: RNNLanguageModel, sentences: EncodedSentences, device: torch.device,
    batch_size: int = BATCH_SIZE, adaptation: Adaptation | None = None,
) -> np.ndarray:
    """Cross-entropy in nats of every predicted token, in sentence order: sentence i's
    lengths[i] + 1 values (its words, then SENTENCE_END) start at offsets[i] + i.

    With an `adaptation` (dynamic.py), the adapting copy scores the sentences in reading order,
    segment by segment, learning from each segment once it is scored; `model` is left as it is."""
    surprisal = np.empty(len(sentences.ids) + len(sentences), dtype=np.float64)
    if adaptation is not None:
        _adapt_while_reading(adaptation, sentences, device, batch_size, surprisal)
        return surprisal
    was_training = model.training
    model.eval()
    starts, lengths = sentence_starts(sentences), sentences.lengths
    with torch.no_grad():
        for indices in _batches(lengths, batch_size, model.config.vocab_size):
            losses = _batch_losses(model, sentences, indices, device)
            _store(surprisal, starts, lengths, indices, losses)
    model.train(was_training)
    return surprisal


def _adapt_while_reading(adaptation: Adaptation, sentences: EncodedSentences,
                         device: torch.device, batch_size: int, surprisal: np.ndarray) -> None:
    """Score each segment, then step on it. A segment's sentences are scored in the batches
    plain scoring would make of them (each sentence starts from a fresh state, so how they are
    batched changes no score), their gradients summed over the segment's tokens."""
    model = adaptation.model
    starts, lengths = sentence_starts(sentences), sentences.lengths
    for segment in reading_segments(lengths, adaptation.settings.segment_tokens):
        tokens = int(lengths[segment].sum()) + len(segment)
        for within in _batches(lengths[segment], batch_size, model.config.vocab_size):
            indices = segment[within]
            losses = _batch_losses(model, sentences, indices, device)
            _store(surprisal, starts, lengths, indices, losses.detach())
            (losses.sum() / tokens).backward()
        adaptation.step()


def _batch_losses(model: RNNLanguageModel, sentences: EncodedSentences, indices: np.ndarray,
                  device: torch.device) -> torch.Tensor:
    batch = make_batch(sentences, indices)
    return model.token_losses(batch.inputs.to(device), batch.targets.to(device))


def _store(surprisal: np.ndarray, starts: np.ndarray, lengths: np.ndarray, indices: np.ndarray,
           losses: torch.Tensor) -> None:
    """Put a batch's losses (row by row, as token_losses orders them) in their sentences'
    places; `starts` are sentence_starts, `lengths` the sentences' lengths."""
    lengths = lengths[indices] + 1
    first = np.repeat(starts[indices], lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    surprisal[first + within] = losses.cpu().double().numpy()


def mean_loss(model: RNNLanguageModel, sentences: EncodedSentences, device: torch.device) -> float:
    """Mean cross-entropy per predicted token (SENTENCE_END included): the validation loss."""
    return float(token_surprisals(model, sentences, device).mean())


def unknown_targets(sentences: EncodedSentences) -> np.ndarray:
    """Which predicted tokens (laid out as `token_surprisals`'s) have UNKNOWN_TOKEN as target."""
    unknown = np.zeros(len(sentences.ids) + len(sentences), dtype=bool)
    sentence_of_word = np.repeat(np.arange(len(sentences)), sentences.lengths)
    unknown[np.arange(len(sentences.ids)) + sentence_of_word] = sentences.ids == UNKNOWN_ID
    return unknown


def sentence_log_probs(sentences: EncodedSentences, surprisal: np.ndarray) -> np.ndarray:
    """Each sentence's natural log-probability: minus the sum of its tokens' surprisals."""
    return -np.add.reduceat(surprisal, sentence_starts(sentences))


def sentence_scores(texts: Sequence[str], words: Sequence[list[str]],
                    sentences: EncodedSentences, surprisal: np.ndarray) -> list[SentenceScore]:
    """One score per sentence, in input order."""
    log_probs = sentence_log_probs(sentences, surprisal)
    scores = []
    for i, (text, sentence_words) in enumerate(zip(texts, words)):
        ids = sentences.sentence(i)
        unknown = [word for word, known in zip(sentence_words, ids) if known == UNKNOWN_ID]
        scores.append(SentenceScore(i + 1, text, list(sentence_words), unknown,
                                    len(sentence_words) + 1, float(log_probs[i])))
    return scores


def perplexity_of(loss: float) -> float:
    return math.exp(min(loss, MAX_EXPONENT))


def summarise(files: list[str], sentences: EncodedSentences, surprisal: np.ndarray,
              dynamic: DynamicSettings | None = None) -> Evaluation:
    words = len(sentences.ids)
    oov = int(np.count_nonzero(sentences.ids == UNKNOWN_ID))
    loss = float(surprisal.mean())
    known = surprisal[~unknown_targets(sentences)]
    total = float(surprisal.sum())
    return Evaluation(
        files=files,
        sentences=len(sentences),
        tokens=len(surprisal),
        words=words,
        oov_words=oov,
        oov_rate=oov / words if words else 0.0,
        loss=loss,
        perplexity=perplexity_of(loss),
        bits_per_word=loss / LN2,
        log_prob=-total,
        log10_prob=-total / LN10,
        # Every sentence's SENTENCE_END is a known target, so `known` is never empty.
        perplexity_excluding_unknown=perplexity_of(float(known.mean())),
        dynamic=dynamic is not None,
        dynamic_settings=dynamic.to_dict() if dynamic is not None else None,
    )


def summary_rows(result: Evaluation) -> list[tuple[str, str]]:
    """The summary as labelled lines, as `evaluate` prints it."""
    return [
        ("files", ", ".join(result.files)),
        *([("text split", ", ".join(result.split))] if result.split else []),
        ("sentences", f"{result.sentences:,}"),
        ("tokens", f"{result.tokens:,} (words and SENTENCE_END)"),
        ("OOV rate", f"{result.oov_rate:.2%} ({result.oov_words:,} of {result.words:,} words)"),
        ("loss", f"{result.loss:.4f} nats per token"),
        ("perplexity", f"{result.perplexity:.2f}"),
        ("bits per word", f"{result.bits_per_word:.4f}"),
        *_dynamic_rows(result),
    ]


def _dynamic_rows(result: Evaluation) -> list[tuple[str, str]]:
    settings = result.dynamic_settings
    if not result.dynamic or settings is None:
        return []
    return [("dynamic", f"adapted while reading: segments of {settings['segment_tokens']:,} "
                        f"tokens, rate {settings['rate']:g}, decay {settings['decay']:g}")]
