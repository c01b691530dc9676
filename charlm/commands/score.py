"""`charlm score`: a model as a measuring instrument, one row per sentence.

Text is read from files (any format `train` reads) or standard input, split into sentences and
tokenized exactly as `evaluate` does, or, with --one-per-line, each line is one sentence as given.
Every sentence is scored in the batches `evaluate` uses (scoring.py), so the summary printed at the
end is `evaluate`'s, digit for digit, and the per-sentence log-probabilities add up to its total.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import typer

from charlm.checkpoint.trained import TrainedModel, load_trained
from charlm.commands.evaluate import column_for
from charlm.commands.scoring import (
    LN10,
    Evaluation,
    offsets_of,
    perplexity_of,
    sentence_log_probs,
    summarise,
    summary_rows,
    token_surprisals,
)
from charlm.data.corpus import ONE_PER_LINE, is_csv, read_lines, read_paragraphs, units_from_lines
from charlm.data.prepare import EncodedSentences
from charlm.data.tokenizer import Tokenizer
from charlm.data.vocab import UNKNOWN_ID
from charlm.devices import DEVICE_CHOICES, pick_device
from charlm.errors import CharlmError, ConfigError, CorpusError
from charlm.options import option

STDIN = "-"
COLUMNS = ("sentence", "text", "tokens", "oov", "log_prob", "log10_prob", "perplexity")
ROWS_PER_WRITE = 1000


@dataclass
class ScoreConfig:
    """Settings of `charlm score`."""

    COMMAND = "score"

    model: str | None = option(None, "Checkpoint to score with.", argument=True)
    files: list[str] = option(
        [], "Text to score, in any format train reads; none, or -, reads standard input.",
        argument=True,
    )
    one_per_line: bool = option(
        False,
        "Score each line as one sentence exactly as given: no sentence splitting and no "
        "filtering (for a list of candidates).",
    )
    json: bool = option(
        False, "Print JSON lines: one object per sentence, then one holding the summary."
    )
    text_column: str | None = option(
        None, "CSV column holding the text. Default: body, else text, else the first column."
    )
    batch_size: int = option(256, "Sentences per scoring batch.", minimum=1, maximum=65536)
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm score MODEL.pt [FILE...]")
        if self.text_column is not None and not any(is_csv(Path(f)) for f in self.files):
            raise ConfigError(f"{sources['text_column']} applies only to CSV files (.csv); drop "
                              "it for text")

    @property
    def inputs(self) -> list[str]:
        return list(self.files) or [STDIN]


@dataclass
class Scores:
    """Every sentence read, encoded, and each predicted token's surprisal in nats."""

    texts: list[str]
    sentences: EncodedSentences
    surprisal: np.ndarray


def _stdin_lines() -> Iterator[str]:
    """Standard input's lines, decoded as the corpus reader decodes files."""
    binary = getattr(sys.stdin, "buffer", None)
    if binary is None:
        yield from sys.stdin
        return
    stream = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
    try:
        yield from stream
    finally:
        stream.detach()  # closing the wrapper would close standard input itself


def _sentences(config: ScoreConfig, tokenizer: Tokenizer) -> Iterator[tuple[str, list[str]]]:
    """(text, words) of every sentence of every input, in order."""
    for name in config.inputs:
        column = None if name == STDIN else column_for(name, config.text_column)
        if config.one_per_line:
            lines = ((line.rstrip("\r\n") for line in _stdin_lines()) if name == STDIN
                     else read_lines(name, column))
            for line in lines:
                yield line, tokenizer.prompt_words(line)
            continue
        split = tokenizer.settings.split
        paragraphs = (units_from_lines(_stdin_lines(), split) if name == STDIN
                      else read_paragraphs(name, column, split=split))
        for paragraph in paragraphs:
            yield from tokenizer.split(paragraph)


def read_input(config: ScoreConfig, trained: TrainedModel) -> tuple[list[str], EncodedSentences]:
    """The sentences' texts and their words as ids; refuses input with nothing to score."""
    texts: list[str] = []
    ids: list[int] = []
    lengths: list[int] = []
    encode = trained.vocabulary.encode
    for text, words in _sentences(config, trained.tokenizer):
        texts.append(text)
        ids.extend(encode(words))
        lengths.append(len(words))
    where = ", ".join("standard input" if n == STDIN else n for n in config.inputs)
    if not texts:
        raise CorpusError(f"{where}: no sentences to score; give text with at least one sentence")
    encoded = np.array(ids, dtype=trained.vocabulary.id_dtype)
    if len(encoded) and not np.any(encoded != UNKNOWN_ID):
        examples = " ".join(trained.vocabulary.words[3:8])
        raise CharlmError(f"none of the {len(encoded):,} words in {where} is in the vocabulary of "
                          f"{config.model} ({len(trained.vocabulary):,} words, e.g. {examples}); "
                          "score text in the language the model was trained on")
    return texts, EncodedSentences(encoded, offsets_of(np.array(lengths, dtype=np.int64)))


def score(config: ScoreConfig) -> tuple[Scores, Evaluation]:
    """Score every sentence; prints nothing."""
    device = pick_device(config.device)
    trained = load_trained(str(config.model), device)
    texts, sentences = read_input(config, trained)
    dropped = trained.tokenizer.dropped_long
    if dropped:
        typer.echo(f"Warning: {dropped:,} sentences of more than "
                   f"{trained.tokenizer.settings.max_words} words were not scored (the model's "
                   "limit; --one-per-line scores every line)", err=True)
    surprisal = token_surprisals(trained.model, sentences, config.batch_size, device)
    files = ["standard input" if n == STDIN else n for n in config.inputs]
    split = ONE_PER_LINE if config.one_per_line else trained.tokenizer.settings.split
    summary = replace(summarise(files, sentences, surprisal), split=[split] * len(files))
    return Scores(texts, sentences, surprisal), summary


def sentence_rows(scores: Scores) -> Iterator[dict]:
    """One record per sentence, in input order."""
    sentences = scores.sentences
    tokens = sentences.lengths + 1
    sentence_of_word = np.repeat(np.arange(len(sentences)), sentences.lengths)
    oov = np.bincount(sentence_of_word, weights=sentences.ids == UNKNOWN_ID,
                      minlength=len(sentences)).astype(np.int64)
    log_probs = sentence_log_probs(sentences, scores.surprisal)
    for i, text in enumerate(scores.texts):
        log_prob = float(log_probs[i])
        yield {"sentence": i + 1, "text": text, "tokens": int(tokens[i]), "oov": int(oov[i]),
               "log_prob": log_prob, "log10_prob": log_prob / LN10,
               "perplexity": perplexity_of(-log_prob / int(tokens[i]))}


def _tsv(row: dict) -> str:
    # A tab inside a line would start a new column: it is shown as a space.
    text = row["text"].replace("\t", " ")
    return (f"{row['sentence']}\t{text}\t{row['tokens']}\t{row['oov']}\t{row['log_prob']:.6f}\t"
            f"{row['log10_prob']:.6f}\t{row['perplexity']:.6g}\n")


def _json(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def _write(lines: Iterator[str]) -> None:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == ROWS_PER_WRITE:
            typer.echo("".join(chunk), nl=False)
            chunk = []
    typer.echo("".join(chunk), nl=False)


def score_rows(result: Evaluation) -> list[tuple[str, str]]:
    """`evaluate`'s summary, then the figures only `score` prints."""
    known = result.tokens - result.oov_words
    return summary_rows(result) + [
        ("log-prob", f"{result.log_prob:.4f} (natural log; log10 {result.log10_prob:.4f})"),
        ("excl. unknown", f"perplexity {result.perplexity_excluding_unknown:.2f} over the "
                          f"{known:,} tokens whose target is not UNKNOWN_TOKEN"),
    ]


def print_scores(config: ScoreConfig) -> Evaluation:
    """Run `charlm score`: the rows on standard output; the summary after them (--json) or on
    standard error, so the rows stay a clean table."""
    scores, result = score(config)
    rows = sentence_rows(scores)
    try:
        if config.json:
            _write(map(_json, rows))
            typer.echo(json.dumps({"summary": asdict(result) | {"model": config.model}},
                                  ensure_ascii=False))
        else:
            _write(itertools.chain(["\t".join(COLUMNS) + "\n"], map(_tsv, rows)))
    except BrokenPipeError:
        # The reader stopped early (| head): not an error. Later flushes must not fail either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return result
    if not config.json:
        for name, value in score_rows(result):
            typer.echo(f"{name:<14}{value}", err=True)
    return result
