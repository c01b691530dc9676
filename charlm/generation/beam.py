"""Beam search: the likeliest sentences under the model, deterministically.

All the open hypotheses of a prompt advance together: each step is one forward call on a batch of
at most the beam's width, and the hidden states follow the hypotheses kept (index_select), so no
step loops over hypotheses in Python. While they grow, hypotheses are ranked by log-probability
(the usual beam: the `width` best extensions of all of them are kept); a hypothesis that takes
SENTENCE_END leaves the beam finished, and finished sentences are ranked by their length-
normalised score

    score = log_prob / length ** LENGTH_ALPHA

where log_prob is the natural log-probability of the new words and SENTENCE_END, and length
counts those tokens (the prompt's words are given, not predicted). Without the normalisation the
shortest sentences would always win, each word costing probability.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from charlm.data.vocab import END_ID, START_ID, UNKNOWN_ID
from charlm.generation.sampling import read_context
from charlm.model.network import RNNLanguageModel
from charlm.model.state import State, map_state

# 0 ranks by log-probability alone (short sentences win), 1 by log-probability per token; in
# between, as Wu et al. (2016) found best for their length penalty.
LENGTH_ALPHA = 0.7


@dataclass
class BeamSentence:
    ids: list[int]  # the prompt's and the new words: no SENTENCE_START, no SENTENCE_END
    log_prob: float  # of the new words and SENTENCE_END, natural
    score: float  # log_prob / length ** LENGTH_ALPHA, what the sentences are ranked by


@dataclass
class BeamResult:
    sentences: list[BeamSentence]  # the best `count` finished, best first
    finished: int  # how many sentences the search finished in all


@dataclass
class OpenBeams:
    """The hypotheses still growing, one row each."""

    tokens: torch.Tensor  # (rows, new words so far)
    log_probs: torch.Tensor  # (rows,), float64
    state: State
    next_scores: torch.Tensor  # (rows, vocab): the model's scores for the next word


def normalised_score(log_prob: float, tokens: int) -> float:
    """What finished sentences are ranked by: `tokens` is the new words plus SENTENCE_END."""
    return log_prob / tokens**LENGTH_ALPHA


def reorder(state: State, rows: torch.Tensor) -> State:
    """The hidden state of the hypotheses kept, in their order (rows index the batch)."""
    return map_state(state, lambda part: part.index_select(1, rows))


def _forbidden(vocab: int, words_so_far: int, prompt_length: int, min_words: int,
               longest: int, allow_unknown: bool, device: torch.device) -> torch.Tensor:
    """The tokens no hypothesis may take next: SENTENCE_START always, UNKNOWN_TOKEN unless
    allowed, SENTENCE_END before min_words, and any word once max_words is reached."""
    forbidden = torch.zeros(vocab, dtype=torch.bool, device=device)
    forbidden[START_ID] = True
    forbidden[UNKNOWN_ID] = not allow_unknown
    if words_so_far == longest:
        forbidden[:] = True
    forbidden[END_ID] = prompt_length + words_so_far < min_words
    return forbidden


def _settled(open_log_probs: torch.Tensor, scores: list[float], count: int,
             most_tokens: int) -> bool:
    """Whether no open hypothesis can still beat the `count`-th best finished sentence: its
    log-probability only falls as it grows, and at its longest it is divided the most."""
    if len(scores) < count:
        return False
    best_open = float(open_log_probs.max())
    return normalised_score(best_open, most_tokens) <= heapq.nlargest(count, scores)[-1]


def _finish(tokens: torch.Tensor, log_probs: torch.Tensor, prompt_ids: Sequence[int]
            ) -> list[BeamSentence]:
    """Sentences out of hypotheses that just took SENTENCE_END (its column dropped)."""
    length = tokens.shape[1]
    return [BeamSentence([*prompt_ids, *row[:-1]], log_prob, normalised_score(log_prob, length))
            for row, log_prob in zip(tokens.tolist(), log_probs.tolist())]


def _start(model: RNNLanguageModel, prompt_ids: Sequence[int], state: State | None
           ) -> OpenBeams:
    device = next(model.parameters()).device
    scores, state = model(torch.tensor([[START_ID, *prompt_ids]], device=device), state)
    return OpenBeams(torch.zeros((1, 0), dtype=torch.long, device=device),
                     torch.zeros(1, dtype=torch.float64, device=device), state, scores[:, -1])


@torch.no_grad()
def beam_search(model: RNNLanguageModel, width: int, count: int = 1, *,
                prompt_ids: Sequence[int] = (), min_words: int = 0, max_words: int = 100,
                allow_unknown: bool = False, state: State | None = None) -> BeamResult:
    """The `count` best sentences (prompt included, at most max_words words, at least
    min_words) a beam of `width` hypotheses finds, best score first; distinct, since each is
    a different path. Fewer only when fewer sentences could be finished at all. `state`: the
    state of the text read before (one row; None: zeros)."""
    was_training = model.training
    model.eval()
    try:
        beams = _start(model, prompt_ids, state)
        vocab = beams.next_scores.shape[-1]
        longest = max_words - len(prompt_ids)
        finished: list[BeamSentence] = []
        for words_so_far in range(longest + 1):
            forbidden = _forbidden(vocab, words_so_far, len(prompt_ids), min_words, longest,
                                   allow_unknown, beams.tokens.device)
            next_log_probs = torch.log_softmax(beams.next_scores.float(), dim=-1).double()
            candidates = beams.log_probs[:, None] + next_log_probs.masked_fill(forbidden,
                                                                               -math.inf)
            top = candidates.flatten().topk(min(width, candidates.numel()))
            possible = top.values > -math.inf
            log_probs, flat = top.values[possible], top.indices[possible]
            parents, words = flat // vocab, flat % vocab
            tokens = torch.cat([beams.tokens.index_select(0, parents), words[:, None]], dim=1)
            ended = words == END_ID
            finished += _finish(tokens[ended], log_probs[ended], prompt_ids)
            going = ~ended
            if not bool(going.any()) or _settled(log_probs[going], [s.score for s in finished],
                                                 count, longest + 1):
                break
            state = reorder(beams.state, parents[going])
            scores, state = model(words[going][:, None], state)
            beams = OpenBeams(tokens[going], log_probs[going], state, scores[:, -1])
    finally:
        model.train(was_training)
    best = heapq.nlargest(count, finished, key=lambda sentence: sentence.score)
    return BeamResult(best, len(finished))


def beam_passage(model: RNNLanguageModel, width: int, count: int, *, state: State | None = None,
                 prompt_ids: Sequence[int] = (), **options: Any) -> BeamResult:
    """Up to `count` sentences that continue one another (document context), each the best a
    beam of `width` finds on from the state the text before it leaves (`state`: what came
    before the first; `prompt_ids`: the first sentence's opening words)."""
    sentences: list[BeamSentence] = []
    finished = 0
    for _ in range(count):
        found = beam_search(model, width, 1, prompt_ids=prompt_ids, state=state, **options)
        finished += found.finished
        if not found.sentences:
            break
        sentences.append(found.sentences[0])
        state = read_context(model, [found.sentences[0].ids], state)
        prompt_ids = ()
    return BeamResult(sentences, finished)
