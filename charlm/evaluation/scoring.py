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

from charlm.data.settings import CONTEXT_DESCRIPTIONS, DOCUMENT, SENTENCE
from charlm.data.streams import Stream, sentence_starts, stream_batch
from charlm.data.types import IGNORE, EncodedSentences
from charlm.data.vocab import UNKNOWN_ID
from charlm.evaluation.dynamic import Adaptation, GradientMeter, reading_segments
from charlm.evaluation.dynamic_settings import DynamicSettings
from charlm.model.network import RNNLanguageModel
from charlm.model.state import State, detach_state, repeat_rows

# Bound on the scores one batch materialises (sentences × steps × vocabulary) on a device that
# takes a batch's output layer at once, so a large vocabulary or long sentences never exhaust
# memory.
LOGIT_BUDGET = 16_000_000
BATCH_SIZE = 256
# Steps read at once: the state is carried from one window to the next, so a long piece of a
# document never holds all its hidden states at once.
WINDOW = 512
# In document context a piece that does not open its document first reads up to this many
# positions before it, unscored, so its first sentences are scored after the text before them.
# A state forgets what came long before: on Persuasion, with models trained on the other novels,
# 2,048 gave every token within 0.004 nats of reading the novel whole and the same perplexity to
# four decimals (256: tokens up to 1 nat apart); pieces of 4,096 then scored fastest
# (docs/performance.md#context).
WARMUP_TOKENS = 2048
PIECE_TOKENS = 4096
LN2 = math.log(2.0)
LN10 = math.log(10.0)
# exp() of more than this overflows a float; such a perplexity is reported as exp(700).
MAX_EXPONENT = 700.0


@dataclass(frozen=True)
class SrilmFigures:
    """A summary as SRILM's `ngram -ppl` prints it, so a figure compares with an n-gram
    model's on the same text: the OOVs (words outside the vocabulary, read as UNKNOWN_TOKEN) are
    left out of logprob, ppl and ppl1; ppl divides by the words and sentence ends scored, ppl1 by
    the words alone. A softmax never gives a word probability 0, so zeroprobs is 0."""

    sentences: int
    words: int
    oovs: int
    zeroprobs: int
    logprob: float
    """log10-probability of every token but the OOVs, the sentence ends included."""
    ppl: float
    ppl1: float | None
    """None when every word is an OOV (SRILM's "undefined")."""

    @classmethod
    def of(cls, sentences: int, words: int, oovs: int, known_nats: float) -> SrilmFigures:
        """The figures of `sentences` holding `words` words, `oovs` of them OOVs, whose other
        tokens (their sentence ends included) have surprisals summing to `known_nats`."""
        scored = words - oovs
        return cls(sentences, words, oovs, 0, -known_nats / LN10,
                   perplexity_of(known_nats / (scored + sentences)),
                   perplexity_of(known_nats / scored) if scored else None)

    def lines(self) -> list[str]:
        """SRILM's two lines, its numbers as C++ streams print them (six digits)."""
        ppl1 = "undefined" if self.ppl1 is None else f"{self.ppl1:g}"
        return [f"{self.sentences} sentences, {self.words} words, {self.oovs} OOVs",
                f"{self.zeroprobs} zeroprobs, logprob= {self.logprob:g} ppl= {self.ppl:g} "
                f"ppl1= {ppl1}"]


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
    srilm: SrilmFigures  # the summary in SRILM's terms: ppl is perplexity_excluding_unknown
    split: list[str] = field(default_factory=list)  # how each file's text was cut
    warnings: list[str] = field(default_factory=list)  # what reading found wrong, one line each
    dynamic: bool = False  # whether the model adapted to the text while reading it (dynamic.py)
    dynamic_settings: dict[str, float] | None = None  # then its DynamicSettings, as a dict
    context: str = SENTENCE  # each sentence read alone, or after the text before it
    ngram: dict[str, str | float | int] | None = None  # the n-gram mixed in: NgramMix.describe()


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


@dataclass(frozen=True)
class Pieces:
    """What one evaluation reads, as stretches of the stream of the sentences in order
    (streams.py): piece i is scored at stream positions first[i] … end[i] − 1, after reading
    positions warm[i] … first[i] − 1 unscored, from a zero state. A stream position is also
    where its token's surprisal goes (token_surprisals)."""

    warm: np.ndarray
    first: np.ndarray
    end: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Positions each piece reads, its warm-up included."""
        return self.end - self.warm


def sentence_pieces(stream: Stream) -> Pieces:
    """Sentence context: every sentence a piece of its own, read from a zero state."""
    return Pieces(stream.starts[:-1], stream.starts[:-1], stream.starts[1:])


def document_pieces(stream: Stream, piece_tokens: int, warmup_tokens: int) -> Pieces:
    """Document context: each document of a stream of sentences in order cut at sentence
    boundaries into pieces of about `piece_tokens` positions, scored side by side. A piece that
    does not open its document first reads up to `warmup_tokens` positions before it (whole
    sentences of its document), so it starts from the state that text leaves. The pieces depend
    on the text alone, so every caller scores it alike."""
    sentences, starts = stream.sentences, stream.starts
    if not len(sentences):
        return Pieces(*(np.zeros(0, dtype=np.int64),) * 3)
    document_of = np.searchsorted(sentences.documents, np.arange(len(sentences)), side="right")
    opening = starts[sentences.documents[document_of - 1]]
    piece_of = (starts[:-1] - opening) // piece_tokens
    begins = np.flatnonzero((np.diff(document_of, prepend=-1) != 0)
                            | (np.diff(piece_of, prepend=-1) != 0))
    first = starts[begins]
    end = np.append(first[1:], starts[-1])
    earliest = np.maximum(first - warmup_tokens, opening[begins])
    warm = starts[np.searchsorted(starts, earliest)]
    return Pieces(warm, first, end)


def _piece_batches(pieces: Pieces, batch_size: int, vocab_size: int) -> Iterator[np.ndarray]:
    """Length-sorted batches of piece indices, smaller where pieces are long."""
    lengths = pieces.lengths
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        size = min(batch_size, len(order) - start)
        longest = min(int(lengths[order[start + size - 1]]), WINDOW)
        while size > 1 and size * longest * vocab_size > LOGIT_BUDGET:
            size //= 2
        yield order[start : start + size]
        start += size


def _read_pieces(model: RNNLanguageModel, stream: Stream, pieces: Pieces, indices: np.ndarray,
                 device: torch.device, before: State | None = None
                 ) -> tuple[torch.Tensor, np.ndarray]:
    """The surprisal of every scored position of some pieces read side by side, and those
    positions, in the same order; the pieces read in windows of WINDOW steps, each from
    `before` (a one-row state; None: zeros), the state carried from one window to the next."""
    warm, first, lengths = pieces.warm[indices], pieces.first[indices], pieces.lengths[indices]
    steps = np.arange(int(lengths.max()))
    positions = warm[:, None] + steps
    inside = steps < lengths[:, None]
    scored = inside & (positions >= first[:, None])
    positions = np.where(inside, positions, warm[:, None])
    inputs, targets, _ = stream.tokens(positions)
    targets = np.where(scored, targets, IGNORE)
    losses, read, state = [], [], repeat_rows(before, len(indices))
    for start in range(0, len(steps), WINDOW):
        window = slice(start, start + WINDOW)
        part, state = model.token_losses(torch.from_numpy(inputs[:, window]).to(device),
                                         torch.from_numpy(targets[:, window]).to(device), state)
        losses.append(part)
        read.append(positions[:, window][scored[:, window]])
    return torch.cat(losses), np.concatenate(read)


def token_surprisals(
    model: RNNLanguageModel, sentences: EncodedSentences, device: torch.device,
    batch_size: int = BATCH_SIZE, adaptation: Adaptation | GradientMeter | None = None,
    context: str = SENTENCE, before: State | None = None,
) -> np.ndarray:
    """Cross-entropy in nats of every predicted token, in sentence order: sentence i's
    lengths[i] + 1 values (its words, then SENTENCE_END) start at offsets[i] + i.

    In sentence context each sentence is read from a zero state; in document context after
    everything before it in its document (document_pieces). With an `adaptation` (dynamic.py),
    the adapting copy scores the sentences in reading order, segment by segment, learning from
    each segment once it is scored; `model` is left as it is.

    `before` (one row; not with an adaptation) is the state every piece starts from instead of
    zeros: the state some text leaves, so that each sentence is scored as if after that text
    (how n-best rescoring reads each hypothesis after the 1-bests before it)."""
    if before is not None and adaptation is not None:
        raise ValueError("an adaptation reads from a zero state; give no `before` with it")
    surprisal = np.empty(len(sentences.ids) + len(sentences), dtype=np.float64)
    stream = Stream.of(sentences)
    if adaptation is not None:
        _adapt_while_reading(adaptation, sentences, stream, device, batch_size, surprisal,
                             context)
        return surprisal
    pieces = (document_pieces(stream, PIECE_TOKENS, WARMUP_TOKENS) if context == DOCUMENT
              else sentence_pieces(stream))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for indices in _piece_batches(pieces, batch_size, model.config.vocab_size):
            losses, positions = _read_pieces(model, stream, pieces, indices, device, before)
            surprisal[positions] = losses.cpu().double().numpy()
    model.train(was_training)
    return surprisal


def _adapt_while_reading(adaptation: Adaptation | GradientMeter, sentences: EncodedSentences,
                         stream: Stream, device: torch.device, batch_size: int,
                         surprisal: np.ndarray, context: str) -> None:
    """Score each segment, then step on it. In sentence context a segment's sentences are
    scored in the batches plain scoring would make of them (each sentence starts from a zero
    state, so how they are batched changes no score); in document context the segment is read
    as one stretch of the stream, on from the state the previous segment left (zeroed where a
    document begins). Gradients are summed over the segment's tokens."""
    model = adaptation.model
    starts = stream.starts
    state = None
    for segment in reading_segments(sentences.lengths, adaptation.settings.segment_tokens):
        first, end = int(starts[segment[0]]), int(starts[segment[-1] + 1])
        if context == DOCUMENT:
            batch = stream_batch(stream, np.arange(first, end)[None])
            losses, state = model.token_losses(batch.inputs.to(device),
                                               batch.targets.to(device), state,
                                               batch.resets.to(device) if batch.resets else None)
            state = detach_state(state)
            surprisal[first:end] = losses.detach().cpu().double().numpy()
            (losses.sum() / (end - first)).backward()
        else:
            pieces = Pieces(starts[segment], starts[segment], starts[segment + 1])
            for indices in _piece_batches(pieces, batch_size, model.config.vocab_size):
                losses, positions = _read_pieces(model, stream, pieces, indices, device)
                surprisal[positions] = losses.detach().cpu().double().numpy()
                (losses.sum() / (end - first)).backward()
        adaptation.step()


def mean_loss(model: RNNLanguageModel, sentences: EncodedSentences, device: torch.device,
              context: str = SENTENCE) -> float:
    """Mean cross-entropy per predicted token (SENTENCE_END included): the validation loss."""
    return float(token_surprisals(model, sentences, device, context=context).mean())


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
              dynamic: DynamicSettings | None = None, context: str = SENTENCE) -> Evaluation:
    words = len(sentences.ids)
    oov = int(np.count_nonzero(sentences.ids == UNKNOWN_ID))
    loss = float(surprisal.mean())
    # Every sentence's SENTENCE_END is a known target, so some token is always known.
    srilm = SrilmFigures.of(len(sentences), words, oov,
                            float(surprisal[~unknown_targets(sentences)].sum()))
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
        perplexity_excluding_unknown=srilm.ppl,
        srilm=srilm,
        dynamic=dynamic is not None,
        dynamic_settings=dynamic.to_dict() if dynamic is not None else None,
        context=context,
    )


def summary_rows(result: Evaluation) -> list[tuple[str, str]]:
    """The summary as labelled lines, as `evaluate` prints it: the perplexities named as KenLM
    and SRILM name theirs, so each compares with an n-gram model's on the same text."""
    known = result.tokens - result.oov_words
    return [
        ("files", ", ".join(result.files)),
        *([("text split", ", ".join(result.split))] if result.split else []),
        ("context", CONTEXT_DESCRIPTIONS[result.context]),
        ("sentences", f"{result.sentences:,}"),
        ("tokens", f"{result.tokens:,} (words and SENTENCE_END)"),
        ("OOV rate", f"{result.oov_rate:.2%} ({result.oov_words:,} of {result.words:,} words)"),
        ("loss", f"{result.loss:.4f} nats per token"),
        ("perplexity", f"{result.perplexity:.2f} (including OOVs, as KenLM's: every token)"),
        ("excl. OOVs", f"perplexity {result.perplexity_excluding_unknown:.2f} over the "
                       f"{known:,} tokens whose target is not UNKNOWN_TOKEN (KenLM's excluding "
                       "OOVs; SRILM's ppl)"),
        ("bits per word", f"{result.bits_per_word:.4f}"),
        ("SRILM", ", ".join(result.srilm.lines())),
        *_dynamic_rows(result),
        *_ngram_rows(result),
    ]


def _ngram_rows(result: Evaluation) -> list[tuple[str, str]]:
    if result.ngram is None:
        return []
    chosen = f", chosen on {result.ngram['chosen_on']}" if result.ngram.get("chosen_on") else ""
    return [("n-gram", f"{result.ngram['path']} ({result.ngram['order']}-gram), weight "
                       f"{result.ngram['weight']:.4f}{chosen}: P = λ·P_ngram + (1 − λ)·P_charlm "
                       "per token")]


def _dynamic_rows(result: Evaluation) -> list[tuple[str, str]]:
    settings = result.dynamic_settings
    if not result.dynamic or settings is None:
        return []
    measured = (f"; mean squared gradients measured on {settings['gradients_from']}"
                if settings.get("gradients_from") else "")
    return [("dynamic", f"adapted while reading: segments of {settings['segment_tokens']:,} "
                        f"tokens, rate {settings['rate']:g}, decay {settings['decay']:g}"
                        f"{measured}")]
