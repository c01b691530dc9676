"""Sampling sentences from a trained model, many at once.

The network runs once per generated token: each step feeds only the newly sampled tokens and the
kept hidden state, never the whole prefix again.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from charlm.data.vocab import END_ID, START_ID, UNKNOWN_ID
from charlm.model.network import RNNLanguageModel
from charlm.model.state import State, map_state, repeat_rows

# Oversample each round: some sentences are rejected (unknown word, too short, too long).
OVERSAMPLE = 2
MIN_ROUND = 8
# Rows sampled together at most: bounds the memory of one round.
MAX_ROUND = 8192
# Rounds are sized as if at least this share of sentences were accepted.
MIN_ACCEPTED_SHARE = 0.05
ATTEMPTS_PER_SENTENCE = 20


@dataclass
class Sample:
    ids: list[int]  # words only: no SENTENCE_START, no SENTENCE_END
    # Natural log-probability of the sampled words and SENTENCE_END under the model itself
    # (not under the temperature/top-k/top-p distribution they were drawn from).
    log_prob: float


@dataclass
class SampleResult:
    samples: list[Sample]
    rejected: int
    attempts: int


def make_generator(seed: int | None) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
    return generator


def sampling_probabilities(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> torch.Tensor:
    """The distribution to sample the next word from, (rows, vocab), unnormalised.

    Temperature scales the logits first; top-k then keeps the k most likely words, and top-p
    (nucleus) the smallest set of the most likely remaining words whose probability reaches p.
    The most likely word always stays, so no row is ever left empty.
    """
    scaled = logits.float() / temperature
    if 0 < top_k < scaled.shape[-1]:
        kept_values, kept_ids = scaled.topk(top_k, dim=-1)
        scaled = torch.full_like(scaled, -math.inf).scatter(-1, kept_ids, kept_values)
    probs = torch.softmax(scaled, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        sorted_probs = torch.where(mass_before < top_p, sorted_probs, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return probs


def _select_rows(state: State, keep: torch.Tensor) -> State:
    return map_state(state, lambda part: part[:, keep])


@torch.no_grad()
def read_context(model: RNNLanguageModel, sentences: Sequence[Sequence[int]],
                 state: State | None = None) -> State | None:
    """The state after reading `sentences` (word ids) as running text, on from `state`: each
    sentence SENTENCE_START and its words, as document context reads a document."""
    ids = [token for sentence in sentences for token in (START_ID, *sentence)]
    if not ids:
        return state
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    _, state = model(torch.tensor([ids], device=device), state)
    model.train(was_training)
    return state


@torch.no_grad()
def _sample_round(
    model: RNNLanguageModel,
    rows: int,
    prompt_ids: Sequence[int],
    max_words: int,
    temperature: float,
    greedy: bool,
    generator: torch.Generator,
    allow_unknown: bool = True,
    top_k: int = 0,
    top_p: float = 1.0,
    state: State | None = None,
) -> tuple[list[list[int] | None], list[float]]:
    """One batch of sentences, each on from `state` (one row's; None: zeros); None where a
    sentence did not end within max_words, or (unless allow_unknown) sampled UNKNOWN_TOKEN.

    Rows leave the batch as soon as they end or are sure to be rejected, so each step computes
    only the sentences still being written; the bookkeeping is in tensors, not per-row Python.
    """
    device = next(model.parameters()).device
    prefix = torch.tensor([[START_ID, *prompt_ids]], device=device).expand(rows, -1)
    logits, state = model(prefix, repeat_rows(state, rows))
    logits = logits[:, -1]
    new_words = max_words - len(prompt_ids) + 1
    sampled = torch.zeros((rows, max(new_words, 0)), dtype=torch.long)
    lengths = torch.full((rows,), -1, dtype=torch.long)  # -1: no SENTENCE_END (yet)
    log_probs = torch.zeros(rows, dtype=torch.float64)
    active = torch.arange(rows)  # batch row -> sentence number
    for step in range(new_words):
        # SENTENCE_START is only ever read, never a next word: it is never drawn.
        drawn_from = logits.float().clone()
        drawn_from[:, START_ID] = -math.inf
        if greedy:
            chosen = drawn_from.argmax(dim=-1)
        else:
            probs = sampling_probabilities(drawn_from, temperature, top_k, top_p).cpu()
            chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(device)
        chosen_log = torch.log_softmax(logits.float(), dim=-1).gather(1, chosen[:, None])
        chosen_cpu = chosen.cpu()
        log_probs[active] += chosen_log.squeeze(1).double().cpu()
        sampled[active, step] = chosen_cpu
        ended = chosen_cpu == END_ID
        lengths[active[ended]] = step
        stop = ended if allow_unknown else ended | (chosen_cpu == UNKNOWN_ID)
        if bool(stop.any()):
            keep = ~stop
            active = active[keep]
            if len(active) == 0:
                break
            keep_device = keep.to(device)
            chosen = chosen[keep_device]
            state = _select_rows(state, keep_device)
        logits, state = model(chosen[:, None], state)
        logits = logits[:, -1]
    prompt = list(prompt_ids)
    words: list[list[int] | None] = [
        prompt + row[:n] if n >= 0 else None
        for row, n in zip(sampled.tolist(), lengths.tolist())
    ]
    return words, log_probs.tolist()


def sample_sentences(
    model: RNNLanguageModel,
    count: int,
    *,
    temperature: float = 1.0,
    min_words: int = 3,
    max_words: int = 100,
    prompt_ids: Sequence[int] = (),
    allow_unknown: bool = False,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    top_k: int = 0,
    top_p: float = 1.0,
    state: State | None = None,
    max_attempts: int | None = None,
) -> SampleResult:
    """Up to `count` sentences, each on from `state` (one row's: the context read before; None:
    zeros); rejected ones (unknown word, too short or long) are retried, up to `max_attempts`
    sentences drawn in all (None: `attempt_budget(count)`), and the result says how many were
    rejected."""
    generator = generator or make_generator(None)
    was_training = model.training
    model.eval()
    if max_attempts is None:
        max_attempts = attempt_budget(count)
    samples: list[Sample] = []
    rejected = attempts = 0
    prompt_length = len(prompt_ids)
    try:
        while len(samples) < count and attempts < max_attempts:
            # Size the round by the share accepted so far: when most sentences are rejected
            # (UNKNOWN_TOKEN is common), one large round beats many small ones.
            accepted_share = max(len(samples) / attempts, MIN_ACCEPTED_SHARE) if attempts else 1.0
            wanted = math.ceil((count - len(samples)) * OVERSAMPLE / accepted_share)
            rows = min(max(wanted, MIN_ROUND), MAX_ROUND, max_attempts - attempts)
            attempts += rows
            round_words, round_log_probs = _sample_round(
                model, rows, prompt_ids, max_words, temperature, greedy, generator, allow_unknown,
                top_k, top_p, state,
            )
            for ids, log_prob in zip(round_words, round_log_probs):
                if len(samples) == count:
                    break
                if (
                    ids is None
                    or len(ids) < min_words
                    or (not allow_unknown and UNKNOWN_ID in ids[prompt_length:])
                ):
                    rejected += 1
                    continue
                samples.append(Sample(ids, log_prob))
    finally:
        model.train(was_training)
    return SampleResult(samples, rejected, attempts)


def attempt_budget(count: int) -> int:
    """How many sentences may be drawn to find `count` that qualify."""
    return max(count * ATTEMPTS_PER_SENTENCE, MIN_ROUND)


def sample_passage(model: RNNLanguageModel, count: int, *, state: State | None = None,
                   prompt_ids: Sequence[int] = (), **sampling: Any) -> SampleResult:
    """Up to `count` sentences that continue one another (document context): each is sampled
    as `sample_sentences` samples one, on from the state the text before it leaves (`state`:
    what came before the first; `prompt_ids`: the first sentence's opening words).

    The passage's sentences share one budget of attempts, as `count` sentences alone do: a
    sentence that needs many tries leaves fewer to the ones after it, and sampling stops only
    when the budget is spent. A sentence's draws beyond the one that qualified are never
    judged (the next sentence starts from another state), so they do not count as attempts.
    """
    samples: list[Sample] = []
    rejected = judged = 0
    budget = attempt_budget(count)
    while len(samples) < count and judged < budget:
        result = sample_sentences(model, 1, prompt_ids=prompt_ids, state=state,
                                  max_attempts=budget - judged, **sampling)
        rejected += result.rejected
        judged += result.rejected + len(result.samples)
        if not result.samples:
            break
        samples.append(result.samples[0])
        state = read_context(model, [result.samples[0].ids], state)
        prompt_ids = ()
    return SampleResult(samples, rejected, judged)


def detokenize(words: Sequence[str]) -> str:
    """Readable text: NLTK's detokenizer, first letter capitalised."""
    from nltk.tokenize.treebank import TreebankWordDetokenizer

    text = TreebankWordDetokenizer().detokenize(list(words))
    # The first letter, not the first character: a sentence may open with a quotation mark.
    for i, char in enumerate(text):
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1 :]
    return text
