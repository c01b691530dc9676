"""`charlm complete`: explore a model interactively.

The model loads once. For each line read (typed at a terminal, or piped in), the command shows the
most likely next words with their probabilities and one sampled continuation of the line (with
--beam, the likeliest continuation found). End of input (Ctrl-D) or Ctrl-C ends it with exit
code 0.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from charlm.bounds import COMPLETE, check_beam
from charlm.commands.context_option import context_option
from charlm.devices import DEVICE_CHOICES
from charlm.errors import ConfigError
from charlm.options import Former, option, settings_of

if TYPE_CHECKING:
    from charlm.generation.text import Completion

PROMPT = "> "


@dataclass
class CompleteConfig:
    """Settings of `charlm complete`."""

    COMMAND = "complete"

    model: str | None = option(None, "Checkpoint to explore.", argument=True)
    next_words: int = option(10, "How many of the most likely next words to show.",
                             formerly=(Former("top_k"),), **COMPLETE["next_words"])
    max_words: int = option(30, "Longest continuation, in words.", **COMPLETE["max_words"])
    temperature: float = option(1.0, "Sampling temperature of the continuation.",
                                **COMPLETE["temperature"])
    seed: int | None = option(None, "Random seed: the same seed samples the same continuations.",
                              **COMPLETE["seed"])
    json: bool = option(False, "Print one JSON object per line read.")
    beam: int = option(0, "Show the likeliest continuation a beam search of this width finds "
                       "instead of a sampled one (0: sample). Refused with --temperature.",
                       **COMPLETE["beam"])
    truecase: bool = option(
        True,
        "Show the next words and the continuation as the training corpus mostly writes them "
        "(Mr. Darcy, London, I); --no-truecase shows them as the model reads them, lowercased.",
        shared=True,
    )
    context: str | None = context_option("completed")
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm complete MODEL.pt")
        check_beam(self.beam, 1, settings_of(self), sources.__getitem__)


def answer(completion: Completion) -> dict[str, Any]:
    """A completion as `--json` prints it."""
    return {
        "prompt": completion.prompt,
        "words": completion.words,
        "unknown": completion.unknown,
        "next": [{"word": word, "probability": p} for word, p in completion.next_words],
        "continuation": completion.continuation,
    }


def _text(answer: dict[str, Any], echo: bool, max_words: int, beam: int) -> str:
    lines = [f"{PROMPT}{answer['prompt']}"] if echo else []
    lines += [f"  {entry['probability']:8.4f}  {entry['word']}" for entry in answer["next"]]
    continuation = answer["continuation"]
    label = "likeliest continuation" if beam else "continuation"
    lines.append(f"  {label}: {continuation}" if continuation is not None
                 else f"  {label}: (none ended within {max_words} words)")
    return "\n".join(lines)


def _lines(interactive: bool) -> Iterator[str]:
    """The lines to complete: typed after a prompt at a terminal, else read as they come;
    decoded as files are (bytes that are not UTF-8 replaced, not refused)."""
    from charlm.data.corpus import stdin_lines

    if not interactive:
        for line in stdin_lines():
            yield line.rstrip("\r\n")
        return
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")  # input() decodes what is typed as stdin does
    while True:
        try:
            yield input(PROMPT)
        except EOFError:
            typer.echo("")
            return


def run_complete(config: CompleteConfig) -> int:
    """Run `charlm complete`; returns how many lines it answered."""
    from charlm.api import load
    from charlm.generation.sampling import make_generator

    model = load(str(config.model), config.device, config.truecase, config.context)
    generator = make_generator(config.seed)
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo("Type the start of a sentence; Ctrl-D or Ctrl-C ends.", err=True)
    answered = 0
    try:
        for line in _lines(interactive):
            completion = model.complete(line, config.next_words, config.max_words,
                                        config.temperature, generator, config.beam)
            for warning in completion.warnings:
                typer.echo(f"Warning: {warning}", err=True)
            shown = answer(completion)
            typer.echo(json.dumps(shown, ensure_ascii=False) if config.json
                       else _text(shown, not interactive, config.max_words, config.beam))
            answered += 1
    except KeyboardInterrupt:
        # Ctrl-C ends an exploration as Ctrl-D does: a normal end, not a failure.
        typer.echo("")
    return answered
