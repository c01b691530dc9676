"""`charlm train --resume`: continue a run from its checkpoint exactly where it stopped.

A resumed run takes every setting the user does not give from the checkpoint. Settings that decide
the data, the batches or the model's shape must match (or be left out); the number of epochs, the
report interval, the learning rate and the like may change. The corpus is verified by a digest of
its content, then encoded with the checkpoint's own tokenizer and vocabulary, never rebuilt.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from charlm.checkpoint import load_checkpoint
from charlm.config import TrainConfig, given_fields, source_of
from charlm.corpus import CorpusStats, fingerprint
from charlm.errors import CharlmError, CheckpointError, ConfigError
from charlm.prepare import PreparedCorpus, encode_corpus
from charlm.tokenizer import Tokenizer, TokenizerSettings
from charlm.vocab import Vocabulary, VocabularyStats

# Changing any of these would change the sentences, their split, the batches or the model.
FIXED_SETTINGS = (
    "text_column", "lowercase", "drop_urls", "min_chars", "max_sentence_words",
    "vocabulary_size", "valid_fraction", "valid", "cell", "embedding_dim", "hidden_dim", "layers",
    "batch_size", "seed", "gate_activation", "tie_weights",
)
# Chosen afresh by each command rather than taken from the checkpoint.
NOT_INHERITED = ("corpus", "out", "force", "resume")
REQUIRED_PARTS = ("train_config", "progress", "optimizer_state", "model_state", "model_config",
                  "vocabulary", "tokenizer", "corpus")


def corpus_info(path: str, corpus: PreparedCorpus, digest: str) -> dict[str, Any]:
    """What a checkpoint records of its corpus, to recognise it when resuming."""
    from dataclasses import asdict

    return {
        "path": path,
        "fingerprint": digest,
        "sentences": len(corpus.sentences),
        "vocabulary_stats": asdict(corpus.vocabulary_stats),
    }


def resume_config(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """The checkpoint to resume, and the run's settings: given ones checked, others inherited."""
    path = str(config.resume)
    document = load_checkpoint(path)
    missing = [part for part in REQUIRED_PARTS if part not in document]
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it has no {', '.join(missing)} (written "
                              "by an older charlm?); start a new run without --resume")
    stored = document["train_config"]
    given = given_fields(config)
    differs = []
    inherited: dict[str, Any] = {}
    for f in fields(TrainConfig):
        if f.name in NOT_INHERITED or f.name not in stored:
            continue
        if f.name not in given:
            inherited[f.name] = stored[f.name]
        elif f.name in FIXED_SETTINGS and getattr(config, f.name) != stored[f.name]:
            differs.append(f"{source_of(config, f.name)} is {getattr(config, f.name)!r} here but "
                           f"{stored[f.name]!r} in the checkpoint")
    if differs:
        raise ConfigError(f"cannot resume {path} with other settings: {'; '.join(differs)}. Leave "
                          "them out to continue with the checkpoint's, or start a new run")
    corpus = config.corpus if config.corpus is not None else document["corpus"]["path"]
    merged = replace(config, corpus=corpus, **inherited)
    merged._given = given  # type: ignore[attr-defined]
    merged._sources = getattr(config, "_sources", {})  # type: ignore[attr-defined]
    progress = document["progress"]
    if progress.get("epoch", 0) >= merged.epochs:
        raise ConfigError(f"{path} has already trained {progress.get('epoch')} of "
                          f"{merged.epochs} epochs; pass a larger --epochs to train further")
    return merged, document


def resumed_corpus(
    config: TrainConfig, document: dict[str, Any], resume: str, workers: int = 1
) -> PreparedCorpus:
    """The checkpoint's corpus, verified to be the same text and encoded as it was then."""
    info = document["corpus"]
    corpus_path = str(config.corpus)
    if fingerprint(corpus_path) != info["fingerprint"]:
        raise CharlmError(f"cannot resume {resume}: {corpus_path} is not the corpus it was trained "
                          f"on ({info['path']}), its content differs; resume with that corpus or "
                          "start a new run without --resume")
    try:
        tokenizer = Tokenizer(TokenizerSettings.from_dict(document["tokenizer"]))
        vocabulary = Vocabulary(document["vocabulary"])
        vocabulary_stats = VocabularyStats(**info["vocabulary_stats"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{resume} has damaged tokenizer or vocabulary settings "
                              f"({type(error).__name__}); start a new run") from None
    stats = CorpusStats()
    sentences = encode_corpus(corpus_path, tokenizer, vocabulary, config.text_column, stats,
                              workers=workers)
    if len(sentences) != info["sentences"]:
        raise CharlmError(f"cannot resume {resume}: {corpus_path} now reads as {len(sentences):,} "
                          f"sentences, not {info['sentences']:,} (another NLTK version?); start "
                          "a new run")
    return PreparedCorpus(sentences, vocabulary, vocabulary_stats, tokenizer, stats)


def resume_command(corpus: str, checkpoint: Path) -> str:
    """The command that continues a stopped run."""
    import shlex

    return f"charlm train {shlex.quote(corpus)} --resume {shlex.quote(str(checkpoint))}"
