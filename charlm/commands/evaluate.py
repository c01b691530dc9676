"""`charlm evaluate`: a checkpoint's loss, perplexity and OOV rate on corpora, and per-token
surprisal.

The corpora are tokenized and encoded exactly as the checkpoint's training corpus was (its stored
tokenizer and vocabulary), their text cut with its split unless --split says otherwise. Every
predicted token counts: each word after SENTENCE_START and the closing SENTENCE_END, never padding.
The summary and the per-token file come from the same per-token losses (scoring.py, shared with
`score`), so the mean of the surprisal column is the reported loss in bits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import typer

from charlm.checkpoint.trained import load_trained
from charlm.commands.scoring import (
    LN2,
    Evaluation,
    concatenate,
    summarise,
    summary_rows,
    token_surprisals,
)
from charlm.data.corpus import (
    SPLIT_CHOICES,
    CorpusStats,
    corpus_members,
    is_csv,
    read_paragraphs,
)
from charlm.data.layout import choose_split
from charlm.data.prepare import EncodedSentences, encode_corpus, split_advice
from charlm.data.tokenizer import Tokenizer
from charlm.data.vocab import SENTENCE_END, UNKNOWN_ID
from charlm.data.word_tokenizer import word_tokenizer_warning
from charlm.devices import DEVICE_CHOICES, pick_device
from charlm.errors import CharlmError, ConfigError, CorpusError
from charlm.options import option
from charlm.paths import OwnOutput, check_destination, write_atomically

PER_TOKEN_HEADER = "sentence\tposition\ttoken\toov\tsurprisal_bits\n"


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
        "bits) to this TSV file.",
    )
    force: bool = option(
        False, "Replace an existing per-token file at --per-token (only one that evaluate "
        "wrote: never a checkpoint, a corpus or any other file)."
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
    batch_size: int = option(256, "Sentences per evaluation batch.", minimum=1, maximum=65536)
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm evaluate MODEL.pt FILE...")
        if not self.files:
            raise ConfigError("no file to evaluate on: charlm evaluate MODEL.pt FILE...")


@dataclass
class EvaluatedFile:
    """A file to evaluate and how to read it."""

    path: str
    text_column: str | None
    tokenizer: Tokenizer

    def sentences(self) -> Iterator[list[str]]:
        """The file's sentences as words, read exactly as it was encoded."""
        split = self.tokenizer.settings.split
        for paragraph in read_paragraphs(self.path, self.text_column, split=split):
            yield from self.tokenizer.tokenize(paragraph)


def column_for(path: str, text_column: str | None) -> str | None:
    """--text-column applies to the CSV files among several; text files ignore it."""
    return text_column if is_csv(Path(path)) else None


def is_per_token_file(path: Path) -> bool:
    """Whether a file begins as evaluate's per-token files do."""
    header = PER_TOKEN_HEADER.encode()
    try:
        with open(path, "rb") as handle:
            return handle.read(len(header)) == header
    except OSError:
        return False


PER_TOKEN_OUTPUT = OwnOutput("a per-token file of charlm evaluate", is_per_token_file)


def check_per_token(path: Path, config: EvaluateConfig) -> None:
    """Refuse, before any work, a --per-token path that cannot be written, would replace a
    file evaluate did not write (or one without --force), or is a file being read."""
    reading = [("the model evaluated", Path(str(config.model)))]
    for file in config.files:
        reading += [("a file evaluated", member) for member in corpus_members(file)]
    check_destination(path, "--per-token", PER_TOKEN_OUTPUT, config.force, reading)


def write_per_token(
    path: Path, files: list[EvaluatedFile], sentences: EncodedSentences, surprisal: np.ndarray
) -> None:
    """One TSV row per predicted token; written atomically, never half-written."""
    try:
        write_atomically(path, partial(_write_rows, files, sentences, surprisal))
    except OSError as error:
        raise CharlmError(f"could not write {path}: {error.strerror or error}") from None


def _write_rows(files: list[EvaluatedFile], sentences: EncodedSentences, surprisal: np.ndarray,
                staged: Path) -> None:
    """The words are read again so the file shows each word as written, out-of-vocabulary ones
    too."""
    bits = surprisal / LN2
    ids = sentences.ids
    offsets = sentences.offsets
    with open(staged, "w", encoding="utf-8") as out:
        out.write(PER_TOKEN_HEADER)
        index = 0
        for file in files:
            for words in file.sentences():
                first = int(offsets[index])
                if len(words) != offsets[index + 1] - first:
                    raise CharlmError(
                        f"{file.path} read differently the second time; was it "
                        "changed during evaluation?"
                    )
                base = first + index
                rows = [
                    f"{index + 1}\t{j + 1}\t{word}\t"
                    f"{int(ids[first + j] == UNKNOWN_ID)}\t{bits[base + j]:.6f}\n"
                    for j, word in enumerate(words)
                ]
                rows.append(
                    f"{index + 1}\t{len(words) + 1}\t{SENTENCE_END}\t0\t"
                    f"{bits[base + len(words)]:.6f}\n"
                )
                out.writelines(rows)
                index += 1


def evaluate(config: EvaluateConfig) -> Evaluation:
    """Evaluate and (with --per-token) write the per-token file; prints nothing."""
    per_token = Path(config.per_token) if config.per_token else None
    if per_token is not None:
        check_per_token(per_token, config)
    if config.text_column is not None and not any(is_csv(Path(f)) for f in config.files):
        raise CorpusError("--text-column applies only to CSV files (.csv); drop it for text files")
    device = pick_device(config.device)
    trained = load_trained(str(config.model), device)
    files = [evaluated_file(f, config, trained.tokenizer) for f in config.files]
    stats = CorpusStats()
    parts = [
        encode_corpus(f.path, f.tokenizer, trained.vocabulary, f.text_column, stats) for f in files
    ]
    warnings = stats.warnings() + dropped_warnings(files)
    tokenizer_warning = word_tokenizer_warning()
    if tokenizer_warning:
        warnings.append(tokenizer_warning)
    sentences = concatenate(parts)
    surprisal = token_surprisals(trained.model, sentences, config.batch_size, device)
    if per_token is not None:
        write_per_token(per_token, files, sentences, surprisal)
    split = [file.tokenizer.settings.split for file in files]
    return replace(
        summarise([file.path for file in files], sentences, surprisal),
        split=split,
        warnings=warnings,
    )


def evaluated_file(path: str, config: EvaluateConfig, trained: Tokenizer) -> EvaluatedFile:
    """How to read one file: the checkpoint's tokenizer, its text cut as --split says."""
    column = column_for(path, config.text_column)
    if config.split is None:
        return EvaluatedFile(path, column, trained)
    split = choose_split(path, config.split, column).mode
    return EvaluatedFile(path, column, trained.with_split(split))


def dropped_warnings(files: list[EvaluatedFile]) -> list[str]:
    """A warning for each tokenizer that dropped over-long sentences."""
    warnings = []
    for tokenizer in {id(f.tokenizer): f.tokenizer for f in files}.values():
        if tokenizer.dropped_long:
            settings = tokenizer.settings
            warnings.append(
                f"{tokenizer.dropped_long:,} sentences longer than the checkpoint's "
                f"--max-sentence-words={settings.max_words} words were not evaluated (the "
                f"longest has {tokenizer.longest_dropped:,}, text read as {settings.split}); "
                f"{split_advice(settings.split, 'train with a larger --max-sentence-words')}"
            )
    return warnings


def evaluate_files(config: EvaluateConfig) -> Evaluation:
    """Run `charlm evaluate`: evaluate, then print a table or one JSON object."""
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
