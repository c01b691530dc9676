"""`charlm train --resume`: continue a run from its checkpoint exactly where it stopped.

A resumed run takes every setting the user does not give from the checkpoint. Settings that decide
the data, the batches or the model's shape (the `fixed` ones of TrainConfig) must match or be left
out; the number of epochs, the report interval, the learning rate and the like may change. The
corpus is verified by a digest of its content, then encoded with the checkpoint's own tokenizer
and vocabulary, never rebuilt.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from charlm.checkpoint.files import is_checkpoint
from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.data.corpus import fingerprint, legacy_fingerprint
from charlm.data.prepare import PreparedCorpus, encode_corpus
from charlm.errors import CharlmError, CheckpointError, ConfigError
from charlm.options import (
    CHECKPOINT,
    fixed_fields,
    given_fields,
    option_fields,
    origins_of,
    source_of,
)
from charlm.training.config import TrainConfig
from charlm.training.progress import EARLY_STOP, Progress

# Chosen afresh by each command rather than taken from the checkpoint.
NOT_INHERITED = ("corpus", "out", "force", "resume", "init_from")
# --resume auto: continue from --out when it holds a checkpoint, else start there.
AUTO = "auto"


class AlreadyTrained(CharlmError):
    """The checkpoint to resume has finished its run: nothing to do, and no failure."""

    exit_code = 0

    def __init__(self, message: str, checkpoint: Path) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


def nothing_to_do(path: str, progress: Progress, asked_before: int, config: TrainConfig
                  ) -> str | None:
    """Why resuming with `config` a run that was asked for `asked_before` epochs has nothing to
    do, or None when it trains on. A run that stopped early trains on when given more patience
    (a larger --early-stop, or 0) or more epochs; the same command again has nothing to do."""
    if progress.epoch >= config.epochs:
        return f"{path}: already trained {progress.epoch} of {config.epochs} epochs; nothing to do"
    if progress.stopped != EARLY_STOP:
        return None
    patience = progress.reports_without_improvement
    if config.early_stop == 0 or config.early_stop > patience or config.epochs > asked_before:
        return None
    return (f"{path}: {progress.stopped_early(asked_before)}; nothing to do; to train on, pass "
            f"--early-stop above {patience} (or 0) or --epochs above {asked_before}")


def resolve_auto_resume(config: TrainConfig) -> TrainConfig:
    """--resume auto, the same command for a batch job's first run and every rerun: resume
    --out when it holds a checkpoint, else start a new run there."""
    if config.resume != AUTO:
        return config
    if config.out is None:
        raise ConfigError("--resume auto needs --out: the checkpoint to continue when it exists "
                          "and to write when it does not")
    out = Path(config.out)
    start = not (out.is_file() and is_checkpoint(out))
    if start and config.corpus is None:
        raise ConfigError(f"no corpus given and {out} holds no checkpoint to resume: pass a "
                          "path (charlm train corpus.txt) or set INPUT_DATA_FILE")
    return replace(config, resume=None if start else str(out))


def corpus_record(path: str, corpus: PreparedCorpus, digest: str) -> dict[str, Any]:
    """What a checkpoint records of its corpus, to recognise it when resuming."""
    return {
        "path": path,
        "fingerprint": digest,
        "sentences": len(corpus.sentences),
        "vocabulary_stats": asdict(corpus.vocabulary_stats),
    }


def resume_config(config: TrainConfig) -> tuple[TrainConfig, Checkpoint]:
    """The checkpoint to resume, and the run's settings: given ones checked, others inherited."""
    path = str(config.resume)
    checkpoint = read_checkpoint(path)
    missing = checkpoint.missing_for_resume()
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it has no {', '.join(missing)} (written "
                              "by an older charlm?); start a new run without --resume")
    stored = TrainConfig.BEFORE_FIELD | (checkpoint.train_config or {})
    given = given_fields(config)
    fixed = fixed_fields(TrainConfig)
    differs = []
    inherited: dict[str, Any] = {}
    for f in option_fields(TrainConfig):
        if f.name in NOT_INHERITED or f.name not in stored:
            continue
        if f.name not in given:
            inherited[f.name] = stored[f.name]
        elif f.name in fixed and getattr(config, f.name) != stored[f.name]:
            differs.append(f"{source_of(config, f.name)} is {getattr(config, f.name)!r} here but "
                           f"{stored[f.name]!r} in the checkpoint")
    if differs:
        raise ConfigError(f"cannot resume {path} with other settings: {'; '.join(differs)}. Leave "
                          "them out to continue with the checkpoint's, or start a new run")
    corpus = config.corpus if config.corpus is not None else checkpoint.corpus["path"]
    merged = replace(config, corpus=corpus, **inherited,
                     origins=origins_of(config) | dict.fromkeys(inherited, CHECKPOINT))
    progress = Progress.from_dict(checkpoint.progress or {})
    if progress.epoch > merged.epochs:
        raise ConfigError(f"{path} has already trained {progress.epoch} epochs, more than "
                          f"--epochs {merged.epochs}; pass a larger --epochs to train further")
    done = nothing_to_do(path, progress, stored.get("epochs", merged.epochs), merged)
    if done is not None:
        raise AlreadyTrained(done, Path(path))
    return merged, checkpoint


def resumed_corpus(config: TrainConfig, checkpoint: Checkpoint) -> PreparedCorpus:
    """The checkpoint's corpus, verified to be the same text and encoded as it was then."""
    resume = str(config.resume)
    info = checkpoint.corpus or {}
    corpus_path = str(config.corpus)
    if not same_corpus(corpus_path, info):
        raise CharlmError(f"cannot resume {resume}: {corpus_path} is not the corpus it was trained "
                          f"on ({info.get('path')}), its content differs; resume with that corpus "
                          "or start a new run without --resume")
    metadata = {"vocabulary": checkpoint.vocabulary, "written_forms": checkpoint.written_forms,
                "tokenizer": checkpoint.tokenizer,
                "vocabulary_stats": info.get("vocabulary_stats")}
    try:
        empty = PreparedCorpus.from_metadata(metadata, sentences=None)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{resume} has damaged tokenizer or vocabulary settings "
                              f"({type(error).__name__}); start a new run") from None
    sentences = encode_corpus(corpus_path, empty.tokenizer, empty.vocabulary, config.text_column,
                              empty.corpus_stats, workers=config.workers)
    if len(sentences) != info["sentences"]:
        raise CharlmError(f"cannot resume {resume}: {corpus_path} now reads as {len(sentences):,} "
                          f"sentences, not {info['sentences']:,} (another NLTK version?); start "
                          "a new run")
    return replace(empty, sentences=sentences)


def same_corpus(path: str, record: dict[str, Any]) -> bool:
    """Whether the corpus at `path` has the content a checkpoint's corpus record describes."""
    recorded = record.get("fingerprint")
    if fingerprint(path) == recorded:
        return True
    # Checkpoints of charlm 0.1.0 digested a single file's name with its bytes.
    return legacy_fingerprint(path, Path(str(record.get("path", path))).name) == recorded


def resume_command(corpus: str, checkpoint: Path) -> str:
    """The command that continues a stopped run."""
    return f"charlm train {shlex.quote(corpus)} --resume {shlex.quote(str(checkpoint))}"
