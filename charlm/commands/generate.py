"""`charlm generate`: sentences from a checkpoint, printed as text, tokens or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import typer

from charlm.bounds import GENERATE, check_beam, word_range_problem
from charlm.commands.context_option import context_option
from charlm.data.settings import SENTENCE
from charlm.devices import DEVICE_CHOICES
from charlm.errors import CharlmError, ConfigError
from charlm.options import option, origins_field, settings_of, source_of

if TYPE_CHECKING:
    from charlm.generation.text import GeneratedSentence


@dataclass
class GenerateConfig:
    """Settings of `charlm generate`."""

    COMMAND = "generate"

    model: str | None = option(None, "Checkpoint to generate from.", argument=True)
    count: int = option(10, "Sentences to print (document context: a passage of this many "
                        "sentences, each continuing the ones before it).", short="-n",
                        **GENERATE["count"])
    temperature: float = option(
        1.0,
        "Sampling temperature: below 1 is more conservative, above 1 more adventurous.",
        **GENERATE["temperature"],
    )
    min_words: int = option(
        3, "Reject sentences shorter than this many words, as the tutorial.",
        **GENERATE["min_words"]
    )
    max_words: int = option(100, "Reject sentences longer than this many words.",
                            **GENERATE["max_words"])
    prompt: str | None = option(None, "Continue sentences from these words (document context: "
                                "the passage continues this text, which may hold several "
                                "sentences).")
    allow_unknown: bool = option(False, "Keep sentences that contain UNKNOWN_TOKEN.")
    greedy: bool = option(
        False, "Always take the most likely next word (deterministic; ignores --temperature)."
    )
    top_k: int = option(0, "Sample only from the k most likely words (0: all).",
                        **GENERATE["top_k"])
    top_p: float = option(
        1.0,
        "Nucleus sampling: sample only from the most likely words whose probabilities add up "
        "to this share (1: all).",
        **GENERATE["top_p"],
    )
    json: bool = option(
        False,
        "Print one JSON object per line: the sentence, its tokens and its natural "
        "log-probability under the model.",
    )
    tokens: bool = option(False, "Print raw tokens instead of detokenized text.")
    truecase: bool = option(
        True,
        "Write words as the training corpus mostly writes them (Mr. Darcy, London, I); "
        "--no-truecase writes them as the model reads them, lowercased. Tokens are always the "
        "model's.",
        shared=True,
    )
    seed: int | None = option(
        None, "Random seed: the same seed gives the same sentences.", **GENERATE["seed"]
    )
    beam: int = option(
        0,
        "Beam search of this width instead of sampling (0: sample): print the --count "
        "likeliest sentences found (--count at most the width), best first, the same every "
        "run. Refused with --temperature, --top-k, --top-p or --greedy, which shape only "
        "sampling.",
        **GENERATE["beam"],
    )
    context: str | None = context_option("generated")
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)
    origins: dict[str, str] = origins_field()

    # A beam prints the single likeliest sentence unless --count asks for more.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"beam": {"count": 1}}

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm generate MODEL.pt")
        problem = word_range_problem(self.min_words, self.max_words, sources.__getitem__)
        if problem:
            raise ConfigError(problem)
        # In document context --count is the passage's length, not the beam's: it is checked
        # against the beam once the model's context is known (generate_text).
        check_beam(self.beam, 1, settings_of(self), sources.__getitem__)


def generate_text(config: GenerateConfig) -> list[str]:
    """Print `config.count` sentences (as the tutorial: no unknown words unless allowed): sampled,
    or with --beam the likeliest found."""
    from charlm.api import load

    model = load(str(config.model), config.device, config.truecase, config.context)
    if model.context == SENTENCE:
        check_beam(config.beam, config.count, {}, partial(source_of, config))
    result = model.sample(
        config.count, config.prompt, temperature=config.temperature, top_k=config.top_k,
        top_p=config.top_p, seed=config.seed, greedy=config.greedy, min_words=config.min_words,
        max_words=config.max_words, allow_unknown=config.allow_unknown, tokens=config.tokens,
        beam=config.beam)
    for warning in result.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    # One object per line (JSON lines): streams, and each line parses on its own.
    lines = [json.dumps(_record(s), ensure_ascii=False) if config.json else s.text
             for s in result.sentences]
    # A passage reads as one paragraph.
    shown = ([" ".join(lines)] if model.context != SENTENCE and lines
             and not (config.json or config.tokens) else lines)
    for line in shown:
        typer.echo(line)
    if result.rejected:  # a beam rejects none
        typer.echo(
            f"rejected {result.rejected} of {result.attempts} sampled sentences (unknown "
            f"word, fewer than {config.min_words} or more than {config.max_words} words)",
            err=True,
        )
    if result.shortfall:
        if not lines:
            raise CharlmError(result.shortfall)
        typer.echo(f"Warning: {result.shortfall}", err=True)
    return lines


def _record(sentence: GeneratedSentence) -> dict[str, Any]:
    """A sentence as --json prints it; a beam's also carries the score it was ranked by."""
    record: dict[str, Any] = {"text": sentence.text, "tokens": sentence.tokens,
                              "log_prob": sentence.log_prob}
    if sentence.score is not None:
        record["score"] = sentence.score
    return record

