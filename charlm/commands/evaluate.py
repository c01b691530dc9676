"""`charlm evaluate`: a checkpoint's loss, perplexity and OOV rate on corpora, and per-token
surprisal.

The corpora are tokenized and encoded exactly as the checkpoint's training corpus was (its stored
tokenizer and vocabulary), their text cut with its split unless --split says otherwise. Every
predicted token counts: each word after SENTENCE_START and the closing SENTENCE_END, never padding.
The summary and the per-token file come from the same per-token losses, so the mean of the
surprisal column is the reported loss in bits.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import typer

from charlm.checkpoint.trained import load_trained
from charlm.data.batches import IGNORE, make_batch
from charlm.data.corpus import SPLIT_CHOICES, CorpusStats, is_csv, read_paragraphs
from charlm.data.layout import choose_split
from charlm.data.prepare import EncodedSentences, encode_corpus, split_advice
from charlm.data.tokenizer import Tokenizer
from charlm.data.vocab import SENTENCE_END, UNKNOWN_ID
from charlm.data.word_tokenizer import word_tokenizer_warning
from charlm.devices import DEVICE_CHOICES, pick_device
from charlm.errors import CharlmError, ConfigError, CorpusError
from charlm.model.network import RNNLanguageModel
from charlm.options import option

# Bound on the logits one evaluation batch materialises (sentences × steps × vocabulary), so a
# large vocabulary or long sentences never exhaust memory.
LOGIT_BUDGET = 16_000_000
LN2 = math.log(2.0)


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
class Evaluation:
    """What `evaluate` reports; `loss` is nats per predicted token."""

    files: list[str]
    sentences: int
    tokens: int  # predicted tokens: words plus one SENTENCE_END per sentence
    words: int
    oov_words: int
    oov_rate: float
    loss: float
    perplexity: float
    bits_per_word: float
    split: list[str]  # how each file's text was cut before sentence splitting
    warnings: list[str]  # what reading the files found wrong, one line each


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


def concatenate(parts: list[EncodedSentences]) -> EncodedSentences:
    ids = np.concatenate([part.ids for part in parts])
    lengths = np.concatenate([part.lengths for part in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return EncodedSentences(ids, offsets)


def _batches(lengths: np.ndarray, batch_size: int, vocab_size: int) -> Iterator[np.ndarray]:
    """Length-sorted batches of sentence indices, smaller where sentences are long."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        size = min(batch_size, len(order) - start)
        while size > 1 and size * (int(lengths[order[start + size - 1]]) + 1) * vocab_size > (
            LOGIT_BUDGET
        ):
            size //= 2
        yield order[start : start + size]
        start += size


@torch.no_grad()
def token_surprisals(
    model: RNNLanguageModel, sentences: EncodedSentences, batch_size: int, device: torch.device
) -> np.ndarray:
    """Cross-entropy in nats of every predicted token, in sentence order: sentence i's
    lengths[i] + 1 values (its words, then SENTENCE_END) start at offsets[i] + i."""
    model.eval()
    lengths = sentences.lengths
    starts = sentences.offsets[:-1] + np.arange(len(sentences))
    surprisal = np.empty(len(sentences.ids) + len(sentences), dtype=np.float64)
    for indices in _batches(lengths, batch_size, model.config.vocab_size):
        batch = make_batch(sentences, indices)
        logits, _ = model(batch.inputs.to(device))
        mask = batch.targets != IGNORE
        # Both masks select row-major: each sentence's predicted positions in order, row by row.
        losses = F.cross_entropy(
            logits[mask.to(device)], batch.targets[mask].to(device), reduction="none"
        )
        rows, steps = np.nonzero(mask.numpy())
        surprisal[starts[indices][rows] + steps] = losses.cpu().double().numpy()
    return surprisal


def summarise(files: list[EvaluatedFile], sentences: EncodedSentences, surprisal: np.ndarray,
              warnings: list[str]) -> Evaluation:
    words = len(sentences.ids)
    oov = int(np.count_nonzero(sentences.ids == UNKNOWN_ID))
    loss = float(surprisal.mean())
    return Evaluation(
        files=[file.path for file in files],
        sentences=len(sentences),
        tokens=len(surprisal),
        words=words,
        oov_words=oov,
        oov_rate=oov / words if words else 0.0,
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),
        bits_per_word=loss / LN2,
        split=[file.tokenizer.settings.split for file in files],
        warnings=warnings,
    )


def _check_writable(path: Path) -> None:
    if not path.parent.is_dir():
        raise CharlmError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise CharlmError(f"{path} is a directory; give a file name for --per-token")


def write_per_token(
    path: Path, files: list[EvaluatedFile], sentences: EncodedSentences, surprisal: np.ndarray
) -> None:
    """One TSV row per predicted token; written beside `path` and renamed, never half-written.

    The words are read again so the file shows each word as written, out-of-vocabulary ones too.
    """
    staged = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    bits = surprisal / LN2
    ids = sentences.ids
    offsets = sentences.offsets
    try:
        with open(staged, "w", encoding="utf-8") as out:
            out.write("sentence\tposition\ttoken\toov\tsurprisal_bits\n")
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
        os.replace(staged, path)
    except OSError as error:
        raise CharlmError(f"could not write {path}: {error.strerror or error}") from None
    finally:
        staged.unlink(missing_ok=True)


def evaluate(config: EvaluateConfig) -> Evaluation:
    """Evaluate and (with --per-token) write the per-token file; prints nothing."""
    per_token = Path(config.per_token) if config.per_token else None
    if per_token is not None:
        _check_writable(per_token)
    if config.text_column is not None and not any(is_csv(Path(f)) for f in config.files):
        raise CorpusError("--text-column applies only to CSV files (.csv); drop it for text files")
    device = pick_device(config.device)
    trained = load_trained(str(config.model), device)
    files = [evaluated_file(f, config, trained.tokenizer) for f in config.files]
    stats = CorpusStats()
    parts = [encode_corpus(f.path, f.tokenizer, trained.vocabulary, f.text_column, stats)
             for f in files]
    warnings = stats.warnings() + dropped_warnings(files)
    tokenizer_warning = word_tokenizer_warning()
    if tokenizer_warning:
        warnings.append(tokenizer_warning)
    sentences = concatenate(parts)
    surprisal = token_surprisals(trained.model, sentences, config.batch_size, device)
    if per_token is not None:
        write_per_token(per_token, files, sentences, surprisal)
    return summarise(files, sentences, surprisal, warnings)


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
    rows = [
        ("files", ", ".join(result.files)),
        ("text split", ", ".join(result.split)),
        ("sentences", f"{result.sentences:,}"),
        ("tokens", f"{result.tokens:,} (words and SENTENCE_END)"),
        ("OOV rate", f"{result.oov_rate:.2%} ({result.oov_words:,} of {result.words:,} words)"),
        ("loss", f"{result.loss:.4f} nats per token"),
        ("perplexity", f"{result.perplexity:.2f}"),
        ("bits per word", f"{result.bits_per_word:.4f}"),
    ]
    for name, value in rows:
        typer.echo(f"{name:<14}{value}")
    if config.per_token:
        typer.echo(f"{'per token':<14}{config.per_token}")
    return result
