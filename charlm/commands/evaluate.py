"""`charlm evaluate`: a checkpoint's loss, perplexity and OOV rate on corpora, and per-token
surprisal, in charlm's TSV or SRILM's `-debug 2` layout (charlm.evaluation.srilm).

The corpora are tokenized and encoded exactly as the checkpoint's training corpus was (its stored
tokenizer and vocabulary), their text cut with its split unless --split says otherwise. Every
predicted token counts: each word after SENTENCE_START and the closing SENTENCE_END, never padding.
The summary and the per-token file come from the same per-token losses (scoring.py, shared with
`score`), so the mean of the surprisal column is the reported loss in bits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from charlm.bounds import READING
from charlm.commands.context_option import context_option
from charlm.commands.dynamic_options import (
    decay_option,
    dynamic_option,
    dynamic_settings,
    gradients_option,
    rate_option,
    segment_option,
)
from charlm.commands.ngram_options import (
    check_ngram,
    ngram_dev_option,
    ngram_mix,
    ngram_option,
    ngram_weight_option,
)
from charlm.data.corpus import SPLIT_CHOICES, corpus_members
from charlm.data.vocab import SENTENCE_END, UNKNOWN_ID
from charlm.devices import DEVICE_CHOICES
from charlm.errors import CharlmError, ConfigError
from charlm.options import option
from charlm.paths import OwnOutput, check_destination, write_atomically

PER_TOKEN_HEADER = "sentence\tposition\ttoken\toov\tsurprisal_bits\n"
# The layouts of --per-token: charlm's TSV, or SRILM's `ngram -ppl -debug 2` (srilm.py).
CHARLM_LAYOUT, SRILM_LAYOUT = "charlm", "srilm"
PER_TOKEN_LAYOUTS = (CHARLM_LAYOUT, SRILM_LAYOUT)
# How SRILM's layout begins its first token's line, after the sentence's line.
SRILM_TOKEN_LINE = b"\tp( "
# The most of a line read to recognise a per-token file.
LINE_LIMIT = 1 << 20

if TYPE_CHECKING:
    from charlm.evaluation.scoring import Evaluation
    from charlm.evaluation.text import Scoring


@dataclass
class EvaluateConfig:
    """Settings of `charlm evaluate`."""

    COMMAND = "evaluate"

    model: str | None = option(None, "Checkpoint to evaluate.", argument=True)
    files: list[str] = option(
        [], "Corpora to evaluate on, in any format train reads.", argument=True
    )
    json: bool = option(False, "Print one JSON object instead of the table.")
    per_token: str | None = option(
        None,
        "Write one row per predicted token (sentence, position, token, oov, surprisal in "
        "bits) to this TSV file; or, with --per-token-format srilm, SRILM's lines.",
    )
    per_token_format: str = option(
        CHARLM_LAYOUT,
        "The layout of --per-token: charlm (the TSV rows) or srilm (what SRILM's ngram -ppl "
        "FILE -debug 2 prints, for the scripts that read it: each sentence, a p( word | "
        "history ...) line for each token with its probability and log10 (an OOV as <unk>, "
        "[OOV] 0 [ -inf ]), the sentence's summary, then the file's).",
        choices=PER_TOKEN_LAYOUTS,
    )
    force: bool = option(
        False, "Replace an existing per-token file at --per-token (only one that evaluate "
        "wrote, in either layout: never a checkpoint, a corpus or any other file)."
    )
    text_column: str | None = option(
        None, "CSV column holding the text. Default: body, else text, else the first column."
    )
    split: str | None = option(
        None,
        "How text is cut before sentence splitting (see charlm train --split). Default: as the "
        "checkpoint's training corpus was.",
        choices=SPLIT_CHOICES,
    )
    batch_size: int = option(256, "Sentences per evaluation batch (document context: pieces of "
                             "running text read side by side).",
                             **READING["batch_size"])
    context: str | None = context_option("scored")
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)
    dynamic: bool = dynamic_option()
    dynamic_segment: int = segment_option()
    dynamic_rate: float = rate_option()
    dynamic_decay: float = decay_option()
    dynamic_gradients: str | None = gradients_option()
    ngram: str | None = ngram_option()
    ngram_weight: str = ngram_weight_option()
    ngram_dev: str | None = ngram_dev_option()

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm evaluate MODEL.pt FILE...")
        if not self.files:
            raise ConfigError("no file to evaluate on: charlm evaluate MODEL.pt FILE...")
        if self.per_token_format != CHARLM_LAYOUT and self.per_token is None:
            raise ConfigError(f"{sources['per_token_format']} lays out the --per-token file, "
                              "and none is given: give --per-token FILE")
        dynamic_settings(self, sources)
        check_ngram(self, sources)


def is_per_token_file(path: Path) -> bool:
    """Whether a file begins as evaluate's per-token files do: the TSV's header, or SRILM's
    layout (a sentence's words, then its first token's line)."""
    try:
        with open(path, "rb") as handle:
            first, second = handle.readline(LINE_LIMIT), handle.readline(LINE_LIMIT)
    except OSError:
        return False
    if first == PER_TOKEN_HEADER.encode():
        return True
    return first.endswith(b"\n") and not first.startswith(b"\t") and second.startswith(
        SRILM_TOKEN_LINE)


PER_TOKEN_OUTPUT = OwnOutput("a per-token file of charlm evaluate", is_per_token_file)


def check_per_token(path: Path, config: EvaluateConfig) -> None:
    """Refuse, before any work, a --per-token path that cannot be written, would replace a
    file evaluate did not write (or one without --force), or is a file being read."""
    reading = [("the model evaluated", Path(str(config.model)))]
    for file in config.files:
        reading += [("a file evaluated", member) for member in corpus_members(file)]
    check_destination(path, "--per-token", PER_TOKEN_OUTPUT, config.force, reading)


def write_per_token(path: Path, evaluated: Scoring, layout: str = CHARLM_LAYOUT) -> None:
    """One TSV row per predicted token, or (`layout` srilm) SRILM's lines; written atomically,
    never half-written."""
    from charlm.evaluation.srilm import srilm_lines

    lines = srilm_lines(evaluated) if layout == SRILM_LAYOUT else tsv_rows(evaluated)
    try:
        write_atomically(path, partial(_write_lines, lines))
    except OSError as error:
        raise CharlmError(f"could not write {path}: {error.strerror or error}") from None


def _write_lines(lines: Iterator[str], staged: Path) -> None:
    with open(staged, "w", encoding="utf-8") as out:
        out.writelines(lines)


def tsv_rows(evaluated: Scoring) -> Iterator[str]:
    """The header, then a row per predicted token. The words are read again so the file shows
    each word as written, out-of-vocabulary ones too."""
    from charlm.evaluation.scoring import LN2

    bits = evaluated.surprisal / LN2
    ids = evaluated.sentences.ids
    offsets = evaluated.sentences.offsets
    yield PER_TOKEN_HEADER
    for _, index, words in evaluated.sentences_again():
        first = int(offsets[index])
        base = first + index
        for j, word in enumerate(words):
            yield (f"{index + 1}\t{j + 1}\t{word}\t"
                   f"{int(ids[first + j] == UNKNOWN_ID)}\t{bits[base + j]:.6f}\n")
        end = base + len(words)
        yield f"{index + 1}\t{len(words) + 1}\t{SENTENCE_END}\t0\t{bits[end]:.6f}\n"


def evaluate(config: EvaluateConfig) -> Evaluation:
    """Evaluate and (with --per-token) write the per-token file; prints nothing."""
    from charlm.api import load

    per_token = Path(config.per_token) if config.per_token else None
    if per_token is not None:
        check_per_token(per_token, config)
    model = load(str(config.model), config.device)
    evaluated = model.evaluate_files(config.files, config.text_column, config.split,
                                     config.batch_size, dynamic_settings(config), config.context,
                                     ngram_mix(model, config, config.context, config.split))
    if per_token is not None:
        write_per_token(per_token, evaluated, config.per_token_format)
    return evaluated.summary


def evaluate_files(config: EvaluateConfig) -> Evaluation:
    """Run `charlm evaluate`: evaluate, then print a table or one JSON object."""
    from charlm.evaluation.scoring import summary_rows

    result = evaluate(config)
    for warning in result.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    if config.json:
        typer.echo(
            json.dumps(asdict(result) | {"model": config.model, "per_token": config.per_token})
        )
        return result
    for name, value in summary_rows(result):
        typer.echo(f"{name:<14}{value}")
    if config.per_token:
        typer.echo(f"{'per token':<14}{config.per_token}")
    return result
