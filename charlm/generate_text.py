"""`charlm generate`: sentences from a checkpoint, printed as text, tokens or JSON lines."""

from __future__ import annotations

import json

import typer

from charlm.config import GenerateConfig
from charlm.errors import CharlmError
from charlm.generate import detokenize, make_generator, sample_sentences
from charlm.train import pick_device
from charlm.trained import load_trained
from charlm.vocab import UNKNOWN_ID


def generate_text(config: GenerateConfig) -> list[str]:
    """Print `config.count` sentences (as the tutorial: no unknown words unless allowed)."""
    trained = load_trained(str(config.model), pick_device(config.device))
    prompt_words: list[str] = []
    prompt_ids: list[int] = []
    if config.prompt:
        prompt_words = trained.tokenizer.prompt_words(config.prompt)
        prompt_ids = trained.vocabulary.encode(prompt_words)
        if prompt_ids and all(i == UNKNOWN_ID for i in prompt_ids):
            typer.echo(f"Warning: none of the prompt's words are in the vocabulary; they are "
                       f"read as {trained.vocabulary.words[UNKNOWN_ID]}", err=True)
    if len(prompt_ids) >= config.max_words:
        raise CharlmError(f"the prompt has {len(prompt_ids)} words, not fewer than --max-words="
                          f"{config.max_words}; raise --max-words or shorten the prompt")
    result = sample_sentences(
        trained.model,
        config.count,
        temperature=config.temperature,
        min_words=config.min_words,
        max_words=config.max_words,
        prompt_ids=prompt_ids,
        allow_unknown=config.allow_unknown,
        greedy=config.greedy,
        generator=make_generator(config.seed),
        top_k=config.top_k,
        top_p=config.top_p,
    )
    lines = []
    for sample in result.samples:
        words = prompt_words + trained.vocabulary.decode(sample.ids[len(prompt_ids):])
        text = " ".join(words) if config.tokens else detokenize(words)
        if config.json:
            # One object per line (JSON lines): streams, and each line parses on its own.
            text = json.dumps({"text": text, "tokens": words, "log_prob": sample.log_prob},
                              ensure_ascii=False)
        lines.append(text)
    for line in lines:
        typer.echo(line)
    if result.rejected:
        typer.echo(f"rejected {result.rejected} of {result.attempts} sampled sentences (unknown "
                   f"word, fewer than {config.min_words} or more than {config.max_words} words)",
                   err=True)
    if len(lines) < config.count:
        message = (f"only {len(lines)} of {config.count} sentences qualified after "
                   f"{result.attempts} attempts; try --allow-unknown, a lower --min-words or a "
                   "higher --max-words")
        if not lines:
            raise CharlmError(message)
        typer.echo(f"Warning: {message}", err=True)
    return lines
