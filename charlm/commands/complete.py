"""`charlm complete`: explore a model interactively.

The model loads once. For each line read (typed at a terminal, or piped in), the command shows the
most likely next words with their probabilities and one sampled continuation of the line. End of
input (Ctrl-D) or Ctrl-C ends it with exit code 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import typer

from charlm.checkpoint.trained import TrainedModel, load_trained
from charlm.data.vocab import START_ID, UNKNOWN_ID
from charlm.devices import DEVICE_CHOICES, pick_device
from charlm.errors import ConfigError
from charlm.model.network import RNNLanguageModel
from charlm.model.sampling import detokenize, make_generator, sample_sentences
from charlm.options import option

PROMPT = "> "


@dataclass
class CompleteConfig:
    """Settings of `charlm complete`."""

    COMMAND = "complete"

    model: str | None = option(None, "Checkpoint to explore.", argument=True)
    top_k: int = option(10, "How many of the most likely next words to show.", minimum=1,
                        maximum=10_000)
    max_words: int = option(30, "Longest sampled continuation, in words.", minimum=1,
                            maximum=1000)
    temperature: float = option(1.0, "Sampling temperature of the continuation.", above=0.0,
                                maximum=100.0)
    seed: int | None = option(None, "Random seed: the same seed samples the same continuations.",
                              minimum=0, maximum=2**32 - 1)
    json: bool = option(False, "Print one JSON object per line read.")
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm complete MODEL.pt")


@torch.no_grad()
def next_word_probabilities(model: RNNLanguageModel, prompt_ids: list[int]) -> torch.Tensor:
    """P(next word | SENTENCE_START and the prompt), over the vocabulary."""
    device = next(model.parameters()).device
    logits, _ = model(torch.tensor([[START_ID, *prompt_ids]], device=device))
    return torch.softmax(logits[0, -1].float(), dim=-1).cpu()


def complete_line(trained: TrainedModel, line: str, config: CompleteConfig,
                  generator: torch.Generator) -> dict[str, Any]:
    """The next-word table and one sampled continuation of `line`."""
    words = trained.tokenizer.prompt_words(line)
    ids = trained.vocabulary.encode(words)
    probabilities = next_word_probabilities(trained.model, ids)
    top = probabilities.topk(min(config.top_k, len(probabilities)))
    result = sample_sentences(
        trained.model, 1, temperature=config.temperature, min_words=0,
        max_words=len(ids) + config.max_words, prompt_ids=ids, allow_unknown=True,
        generator=generator,
    )
    continuation = None
    if result.samples:
        new_words = trained.vocabulary.decode(result.samples[0].ids[len(ids) :])
        continuation = detokenize(words + new_words)
    return {
        "prompt": line,
        "words": words,
        "unknown": [w for w, i in zip(words, ids) if i == UNKNOWN_ID],
        "next": [{"word": trained.vocabulary.words[int(i)], "probability": float(p)}
                 for p, i in zip(top.values, top.indices)],
        "continuation": continuation,
    }


def _text(answer: dict[str, Any], echo: bool, max_words: int) -> str:
    lines = [f"{PROMPT}{answer['prompt']}"] if echo else []
    lines += [f"  {entry['probability']:8.4f}  {entry['word']}" for entry in answer["next"]]
    continuation = answer["continuation"]
    lines.append(f"  continuation: {continuation}" if continuation is not None
                 else f"  continuation: (none ended within {max_words} words)")
    return "\n".join(lines)


def _lines(interactive: bool) -> Iterator[str]:
    """The lines to complete: typed after a prompt at a terminal, else read as they come."""
    if not interactive:
        for line in sys.stdin:
            yield line.rstrip("\r\n")
        return
    while True:
        try:
            yield input(PROMPT)
        except EOFError:
            typer.echo("")
            return


def run_complete(config: CompleteConfig) -> int:
    """Run `charlm complete`; returns how many lines it answered."""
    trained = load_trained(str(config.model), pick_device(config.device))
    generator = make_generator(config.seed)
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo("Type the start of a sentence; Ctrl-D or Ctrl-C ends.", err=True)
    answered = 0
    try:
        for line in _lines(interactive):
            answer = complete_line(trained, line, config, generator)
            if answer["words"] and len(answer["unknown"]) == len(answer["words"]):
                typer.echo(f"Warning: none of the words of {line!r} is in the vocabulary; they "
                           "are read as UNKNOWN_TOKEN", err=True)
            typer.echo(json.dumps(answer, ensure_ascii=False) if config.json
                       else _text(answer, not interactive, config.max_words))
            answered += 1
    except KeyboardInterrupt:
        # Ctrl-C ends an exploration as Ctrl-D does: a normal end, not a failure.
        typer.echo("")
    return answered
