"""Text from a trained model: a prompt read in the model's context, sentences sampled or found by a
beam (in document context a passage, each sentence continuing the ones before it), the likeliest
next words after a line, and a line completed. `Model.sample`, `Model.next_words` and
`Model.complete` (and so `charlm generate` and `charlm complete`) are these functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from charlm.bounds import SAMPLING_ONLY, check_beam
from charlm.checkpoint.trained import TrainedModel
from charlm.data.layout import SENTENCE_END
from charlm.data.settings import DOCUMENT, SENTENCE
from charlm.data.vocab import START_ID, UNKNOWN_ID, UNKNOWN_TOKEN, Vocabulary
from charlm.errors import CharlmError
from charlm.generation.beam import beam_passage, beam_search
from charlm.generation.sampling import (
    detokenize,
    make_generator,
    read_context,
    sample_passage,
    sample_sentences,
)
from charlm.model.network import RNNLanguageModel
from charlm.model.state import State


@dataclass
class GeneratedSentence:
    """A sampled sentence: its text, its tokens and its natural log-probability under the model
    (not under the temperature, top-k or top-p distribution it was drawn from)."""

    text: str
    tokens: list[str]
    log_prob: float
    score: float | None = None
    """Found by a beam: the length-normalised log-probability sentences are ranked by
    (charlm.generation.beam.LENGTH_ALPHA); None for a sampled sentence."""


@dataclass
class Generation:
    """What sampling gave: the sentences that qualified, and how many were rejected. A beam
    rejects none: `attempts` is then how many sentences it finished."""

    sentences: list[GeneratedSentence]
    rejected: int
    attempts: int
    warnings: list[str] = field(default_factory=list)
    """What reading the prompt found wrong, one line each."""
    shortfall: str | None = None
    """Why fewer sentences came than were asked for, in `charlm generate`'s words (None: all
    came); `Model.generate` warns with it."""


@dataclass
class PromptInContext:
    """A prompt as a model reads it before continuing it."""

    state: State | None
    """The state the finished sentences leave (None: a zero state)."""
    read: list[str]
    """The words of the finished sentences, read first (document context)."""
    words: list[str]
    """The words of the sentence the prompt leaves open, which the model continues."""
    ids: list[int]
    """Their ids."""


@dataclass
class Completion:
    """The likeliest next words after a line, and one sampled continuation of it (with a
    beam, the likeliest continuation found)."""

    prompt: str
    words: list[str]
    unknown: list[str]
    next_words: list[tuple[str, float]]
    continuation: str | None
    warnings: list[str] = field(default_factory=list)
    """What reading the line found wrong, one line each."""


@dataclass(frozen=True)
class SentenceChoice:
    """How sentences are chosen: sampled (shaped by the temperature, top-k, top-p or greedy
    choice, the same for the same seed) or, with a beam of that width, the likeliest found;
    and which qualify."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    greedy: bool = False
    min_words: int = 3
    max_words: int = 100
    allow_unknown: bool = False
    beam: int = 0

    def sampling(self) -> dict[str, Any]:
        """The settings that shape only sampling, by name."""
        return {name: value for name, value in asdict(self).items() if name in SAMPLING_ONLY}


@dataclass
class Chosen:
    """Sentences chosen, best (beam) or first (sampling) first, as their ids, log-probabilities
    and a beam's scores; how many were rejected, and how many were drawn or finished."""

    sentences: list[tuple[list[int], float, float | None]]
    rejected: int
    attempts: int


@dataclass(frozen=True)
class TextModel:
    """A trained model as it reads and writes text: where it runs, the context it reads text in,
    and whether it shows words as the training corpus writes them (`truecase`)."""

    trained: TrainedModel
    device: torch.device
    context: str
    truecase: bool

    @property
    def truecasing(self) -> bool:
        """Whether text shows the corpus's casing: asked for, and the checkpoint records it."""
        return self.truecase and self.trained.vocabulary.written_forms is not None

    def as_written(self, words: Sequence[str]) -> list[str]:
        """Words as text shows them: in their written forms when truecasing."""
        return self.trained.vocabulary.as_written(words) if self.truecasing else list(words)

    def prompt_ids(self, prompt: str | None) -> tuple[list[str], list[int]]:
        """A prompt's words (normalised as training text was) and their ids."""
        if not prompt:
            return [], []
        words = self.trained.tokenizer.prompt_words(prompt)
        return words, self.trained.vocabulary.encode(words)

    def prompt_in_context(self, prompt: str | None) -> PromptInContext:
        """A prompt as the model's context reads it: in document context its finished
        sentences are read first, and the sentence it leaves open (none, when it ends one) is
        what follows them; in sentence context the whole prompt opens one sentence."""
        if self.context == SENTENCE or not prompt:
            return PromptInContext(None, [], *self.prompt_ids(prompt))
        sentences = self.trained.tokenizer.prompt_sentences(prompt)
        finished = bool(SENTENCE_END.search(prompt.rstrip()))
        opened = [] if finished or not sentences else sentences.pop()
        encode = self.trained.vocabulary.encode
        state = read_context(self.trained.model, [encode(words) for words in sentences])
        return PromptInContext(state, [w for words in sentences for w in words], opened,
                               encode(opened))

    @torch.no_grad()
    def next_word_probabilities(self, prompt_ids: Sequence[int], state: State | None = None
                                ) -> torch.Tensor:
        """P(next word | SENTENCE_START and the prompt), over the vocabulary; `state`: the
        state the text before the sentence leaves (None: zeros)."""
        prefix = torch.tensor([[START_ID, *prompt_ids]], device=self.device)
        logits, _ = self.trained.model(prefix, state)
        return torch.softmax(logits[0, -1].float(), dim=-1).cpu()

    def likeliest(self, ids: Sequence[int], state: State | None, k: int
                  ) -> list[tuple[str, float]]:
        """The `k` likeliest next words after `ids` (on from `state`), likeliest first."""
        probabilities = self.next_word_probabilities(ids, state)
        top = probabilities.topk(min(k, len(probabilities)))
        words = self.trained.vocabulary.words
        return [(words[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def generate(text: TextModel, count: int, prompt: str | None, choice: SentenceChoice,
             tokens: bool = False) -> Generation:
    """Up to `count` sentences continuing `prompt`, chosen as `choice` says; in document context
    a passage. `tokens` keeps the raw tokens as each sentence's text."""
    read = text.prompt_in_context(prompt)
    if len(read.ids) >= choice.max_words:
        raise CharlmError(f"the prompt has {len(read.ids)} words, not fewer than --max-words="
                          f"{choice.max_words}; raise --max-words or shorten the prompt")
    passage = text.context == DOCUMENT
    chosen = choose_sentences(text.trained.model, count, read, choice, passage,
                              make_generator(choice.seed))
    sentences = []
    for number, (ids, log_prob, score) in enumerate(chosen.sentences):
        # A passage's later sentences continue the text: only the first opens with the
        # prompt's words.
        opened = read.words if number == 0 or not passage else []
        words = opened + text.trained.vocabulary.decode(ids[len(opened):])
        shown = " ".join(words) if tokens else detokenize(text.as_written(words))
        sentences.append(GeneratedSentence(shown, words, log_prob, score))
    shortfall = (None if len(sentences) >= count else
                 short_generation(len(sentences), count, chosen.attempts, choice.beam,
                                  choice.max_words))
    return Generation(sentences, chosen.rejected, chosen.attempts,
                      unknown_prompt(prompt, read.read + read.words, text.trained.vocabulary),
                      shortfall)


def short_generation(found: int, count: int, attempts: int, beam: int, max_words: int) -> str:
    """Why only `found` of `count` sentences came: a beam finished no more, or no more sampled
    ones qualified within the attempts allowed."""
    if beam:
        return (f"the beam finished only {found} of {count} sentences within "
                f"--max-words={max_words}; try a higher --max-words, a lower --min-words or "
                "--allow-unknown")
    return (f"only {found} of {count} sentences qualified after {attempts} attempts; try "
            "--allow-unknown, a lower --min-words or a higher --max-words")


def choose_sentences(model: RNNLanguageModel, count: int, read: PromptInContext,
                     choice: SentenceChoice, passage: bool,
                     generator: torch.Generator | None) -> Chosen:
    """`count` sentences on from a prompt read in context, sampled with `generator` or, with a
    beam, the likeliest found; as a `passage`, each continues the ones before it (and with a
    beam is the likeliest after them)."""
    check_beam(choice.beam, 1 if passage else count, choice.sampling(), str)
    options = {"prompt_ids": read.ids, "min_words": choice.min_words,
               "max_words": choice.max_words, "allow_unknown": choice.allow_unknown,
               "state": read.state}
    if choice.beam:
        search = beam_passage if passage else beam_search
        found = search(model, choice.beam, count, **options)
        return Chosen([(s.ids, s.log_prob, s.score) for s in found.sentences], 0, found.finished)
    draw = sample_passage if passage else sample_sentences
    result = draw(model, count, generator=generator, **choice.sampling(), **options)
    return Chosen([(s.ids, s.log_prob, None) for s in result.samples], result.rejected,
                  result.attempts)


def complete(text: TextModel, line: str, k: int, max_words: int, temperature: float,
             generator: torch.Generator | None, beam: int) -> Completion:
    """The `k` likeliest next words after `line` and one continuation of it, sampled or with
    `beam` the likeliest found, of at most `max_words` new words; either may take
    UNKNOWN_TOKEN."""
    read = text.prompt_in_context(line)
    choice = SentenceChoice(temperature=temperature, min_words=0,
                            max_words=len(read.ids) + max_words, allow_unknown=True, beam=beam)
    chosen = choose_sentences(text.trained.model, 1, read, choice, False, generator)
    vocabulary = text.trained.vocabulary
    continuation = None
    if chosen.sentences:
        new_words = vocabulary.decode(chosen.sentences[0][0][len(read.ids):])
        continuation = detokenize(text.as_written(read.words + new_words))
    everything = read.read + read.words
    unknown = [w for w, i in zip(everything, vocabulary.encode(everything)) if i == UNKNOWN_ID]
    ranked = text.likeliest(read.ids, read.state, k)
    shown = list(zip(text.as_written([w for w, _ in ranked]), [p for _, p in ranked]))
    return Completion(line, everything, unknown, shown, continuation,
                      unknown_prompt(line, everything, vocabulary))


def unknown_prompt(prompt: str | None, words: Sequence[str], vocabulary: Vocabulary
                   ) -> list[str]:
    """A warning when the vocabulary knows none of a prompt's words, which are then read as
    UNKNOWN_TOKEN; none otherwise."""
    if not words or any(i != UNKNOWN_ID for i in vocabulary.encode(words)):
        return []
    return [f"none of the words of {prompt!r} is in the vocabulary; they are read as "
            f"{UNKNOWN_TOKEN}"]
