"""`charlm train NEW_CORPUS --init-from MODEL`: fine-tune a model on another corpus.

The new run starts from the model's weights, vocabulary, tokenizer settings and shape; everything
else (the optimizer, the progress, every training setting) is fresh, from flags, variables or
defaults. Settings that would change the vocabulary, the words or the shape are refused; the
settings that say how the new corpus is laid out and read (--split, --text-column, --context) are
honoured, and the new checkpoint records the ones used. The new corpus is encoded with the model's
own tokenizer and vocabulary, and the run reports how much of it that vocabulary covers. Unlike
--resume (resume.py), nothing of the old run continues. `FineTuning` is this start (start.py).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.data.corpus import fingerprint
from charlm.data.layout import choose_split
from charlm.data.prepare import PreparedCorpus, encode_counting_unknown
from charlm.data.tokenizer import Tokenizer, TokenizerSettings
from charlm.data.vocab import UNKNOWN_ID, Vocabulary, VocabularyStats
from charlm.errors import CharlmError, CheckpointError, first_line
from charlm.model.network import ModelConfig
from charlm.options import fixed_fields, given_fields
from charlm.training.config import TrainConfig, own_name
from charlm.training.outputs import Output
from charlm.training.run import Run
from charlm.training.start import Start, check_word_list, inherit

UNKNOWN_EXAMPLES = 10
# How the model reads text (what each sentence is read after, how lines make sentences) carries
# on unless the new run says otherwise: the new corpus's layout may differ.
READING = ("context", "split")


@dataclass
class InitialModel:
    """The model a fine-tuning run starts from."""

    path: str
    checkpoint: Checkpoint
    digest: str

    def record(self) -> dict[str, Any]:
        """What the new checkpoint keeps of where it started."""
        return {"path": self.path, "file": Path(self.path).name, "sha256": self.digest}


class FineTuning(Start):
    """--init-from: a model's weights, vocabulary and tokenizer on a new corpus; everything else
    starts afresh."""

    def __init__(self, config: TrainConfig, initial: InitialModel) -> None:
        super().__init__(config)
        self.initial = initial
        self.unknown_words: Counter[str] = Counter()  # the new corpus's words the model lacks

    @property
    def stored(self) -> Checkpoint | None:
        return self.initial.checkpoint

    def prepare(self) -> PreparedCorpus:
        self.digest = fingerprint(str(self.config.corpus))
        corpus, self.unknown_words = initial_corpus(self.config, self.initial)
        return corpus

    def report_corpus(self, outputs: Output, corpus: PreparedCorpus) -> None:
        report_coverage(outputs, self.initial, corpus, self.unknown_words)

    def begin(self, run: Run) -> dict[str, Any]:
        try:
            run.model.load_state_dict(self.initial.checkpoint.model_state)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CharlmError(
                f"--init-from {self.initial.path}: its weights do not fit the model it "
                f"describes ({type(error).__name__}: {first_line(error)})"
            ) from None
        run.initialised_from = self.initial.record()
        return {}


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_settings(checkpoint: Checkpoint) -> dict[str, Any]:
    """The model's own settings, as the checkpoint holds them: each fixed setting (one that
    decides the data or the model) that its vocabulary, tokenizer or shape holds, and how it
    reads text."""
    try:
        shape = ModelConfig.from_dict(checkpoint.model_config)
        tokenizer = TokenizerSettings.from_dict(checkpoint.tokenizer)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"its model or tokenizer settings are damaged "
                              f"({type(error).__name__})") from None
    stored = checkpoint.train_config or {}
    held = asdict(shape) | asdict(tokenizer) | {
        "vocabulary_size": stored.get("vocabulary_size", len(checkpoint.vocabulary)),
        "context": checkpoint.reads_context,
    }
    settings = {name: held[own_name(name)] for name in fixed_fields(TrainConfig)
                if own_name(name) in held}
    if not tokenizer.max_words:  # 0: a checkpoint from before the limit, which had none
        del settings["max_sentence_words"]
    return settings


def init_config(config: TrainConfig) -> tuple[TrainConfig, InitialModel]:
    """The model to start from, and the run's settings with the model's own taken from it."""
    path = str(config.init_from)
    try:
        checkpoint = read_checkpoint(path)
        inherited = model_settings(checkpoint)
    except CheckpointError as error:
        raise CheckpointError(f"--init-from {path}: {error}") from None
    refusal = f"--init-from {path} keeps the model's vocabulary, tokenizer settings and shape"
    advice = "Leave these settings out, or train a new model without --init-from"
    check_word_list(config, checkpoint.vocabulary, "the model", refusal, advice)
    merged = inherit(
        config, inherited, refused=[name for name in inherited if name not in READING],
        holder="the model", refusal=refusal, advice=advice)
    merged.check_model()
    return merged, InitialModel(path, checkpoint, file_digest(path))


def initial_corpus(config: TrainConfig, initial: InitialModel) -> tuple[PreparedCorpus, Counter]:
    """The new corpus encoded with the model's tokenizer and vocabulary (its text cut as --split
    says, when given), and the words it holds that the vocabulary lacks, with their counts."""
    checkpoint = initial.checkpoint
    try:
        tokenizer = Tokenizer(TokenizerSettings.from_dict(checkpoint.tokenizer))
        vocabulary = Vocabulary(checkpoint.vocabulary, checkpoint.written_forms)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"--init-from {initial.path} has damaged tokenizer or vocabulary "
                              f"settings ({type(error).__name__})") from None
    choice = None
    if "split" in given_fields(config):
        choice = choose_split(str(config.corpus), config.split, config.text_column)
        tokenizer = tokenizer.with_split(choice.mode)
    sentences, unknown = encode_counting_unknown(str(config.corpus), tokenizer, vocabulary,
                                                 config.text_column, workers=config.workers)
    tokens = len(sentences.ids)
    known_words = np.unique(sentences.ids)
    stats = VocabularyStats(
        tokens=tokens,
        unique_words=int(np.count_nonzero(known_words != UNKNOWN_ID)) + len(unknown),
        size=len(vocabulary),
        least_frequent_word=None,
        least_frequent_count=0,
        coverage=1.0 - sum(unknown.values()) / tokens if tokens else 0.0,
    )
    return PreparedCorpus(sentences, vocabulary, stats, tokenizer, split_choice=choice), unknown


def report_coverage(outputs: Output, initial: InitialModel, corpus: PreparedCorpus,
                    unknown: Counter) -> None:
    """How much of the new corpus the model's vocabulary covers, before any training."""
    examples = ", ".join(f"{word} ({count:,})"
                         for word, count in unknown.most_common(UNKNOWN_EXAMPLES))
    outputs.settings("initialised from", {
        "model": f"{initial.path} (sha256 {initial.digest[:12]}...)",
        "vocabulary covers": f"{corpus.vocabulary_stats.coverage:.1%} of the new corpus's "
                             f"{corpus.vocabulary_stats.tokens:,} tokens",
        "most frequent unknown words": examples or "none",
    })
