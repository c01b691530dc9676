"""How a run starts. `Start` is a new run, afresh: the corpus prepared (or taken from the cache),
a seeded random model. The starts from a checkpoint are its subclasses, each in its own file:
`Resumption` (--resume, resume.py) and `FineTuning` (--init-from, init_from.py); build.py chooses
one, once. The one value supplies the run's settings, its corpus, the stored model whose shape it
keeps, and what the run begins with (weights, optimizer, progress, the weight average).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from charlm.checkpoint.schema import Checkpoint
from charlm.data.cache import cached_prepare
from charlm.data.corpus import fingerprint
from charlm.data.prepare import PreparedCorpus
from charlm.data.vocab import SPECIAL_TOKENS
from charlm.data.word_list import capitals_warning, different_words, read_word_list
from charlm.errors import ConfigError
from charlm.options import CHECKPOINT, given_fields, origins_of, source_of
from charlm.training.averaging import UniformAverage, WeightAverage
from charlm.training.config import WORD_LIST, TrainConfig
from charlm.training.outputs import Output
from charlm.training.run import Run


class Start:
    """A new run: the corpus prepared (or taken from the cache), a seeded random model."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.cache_hit = False
        self.store_failed: str | None = None  # why the cache could not store the corpus
        self.digest = ""  # the corpus's fingerprint: only rank 0, which saves, needs it

    @property
    def stored(self) -> Checkpoint | None:
        """The model whose weights the run starts from (its shape, its cut-offs)."""
        return None

    @property
    def out(self) -> Path:
        return Path(self.config.out or self.config.default_out)

    @property
    def in_place(self) -> bool:
        """Whether the run writes over the checkpoint it continues."""
        return False

    def prepare(self) -> PreparedCorpus:
        """The corpus to train on (on rank 0, which sends it to the others)."""
        config = self.config
        self.digest = fingerprint(str(config.corpus))
        corpus, self.cache_hit = cached_prepare(
            str(config.corpus), config.prepare_settings(), workers=config.workers,
            cache_dir=config.cache_dir, use_cache=config.cache, digest=self.digest,
            on_store_failed=self._cache_not_stored,
        )
        return corpus

    def _cache_not_stored(self, reason: str) -> None:
        self.store_failed = reason

    def report_corpus(self, outputs: Output, corpus: PreparedCorpus) -> None:
        """What the start has to say about the corpus prepared."""
        if self.store_failed:
            outputs.warning(self.store_failed)
        config = self.config
        listed = corpus.vocabulary.words[len(SPECIAL_TOKENS):]
        capitals = (capitals_warning(config.vocabulary, listed)
                    if config.vocabulary is not None and config.lowercase else None)
        if capitals:
            outputs.warning(capitals)

    def begin(self, run: Run) -> dict[str, Any]:
        """Set up what the run begins with; returns the running figures' stored state."""
        return {}

    def average(self, run: Run) -> WeightAverage | None:
        """The average of the weights the run keeps from here on, if any: NT-ASGD's uniform one
        once it has switched, else --weight-average's moving one."""
        if run.switch is not None:
            return UniformAverage(run.model) if run.switch.switched else None
        if run.config.weight_average > 0:
            return WeightAverage(run.model, run.config.weight_average)
        return None


def check_word_list(config: TrainConfig, vocabulary: Sequence[str], holder: str,
                    refusal: str, advice: str) -> None:
    """A start from a checkpoint keeps its vocabulary (`vocabulary`, `holder`'s): a word list
    given must hold its words, wherever the list lies (its words, not its path, made the
    vocabulary); else refused in `inherit`'s words."""
    if WORD_LIST not in given_fields(config):
        return
    differs = different_words(read_word_list(str(config.vocabulary)), vocabulary, holder)
    if differs:
        raise ConfigError(f"{refusal}: {source_of(config, WORD_LIST)} {differs}. {advice}")


def inherit(config: TrainConfig, stored: Mapping[str, Any], *, refused: Collection[str],
            holder: str, refusal: str, advice: str) -> TrainConfig:
    """A start from a checkpoint: `config` with each setting of `stored` that it was not given,
    recorded as the checkpoint's. A setting of `refused` given another value than `stored`'s is
    refused, all of them in one line: `refusal`, how each differs from `holder`'s, `advice`."""
    given = given_fields(config)
    differs = [f"{source_of(config, name)} is {getattr(config, name)!r} here but {value!r} in "
               f"{holder}" for name, value in stored.items()
               if name in refused and name in given and getattr(config, name) != value]
    if differs:
        raise ConfigError(f"{refusal}: {'; '.join(differs)}. {advice}")
    inherited = {name: value for name, value in stored.items() if name not in given}
    return replace(config, **inherited,
                   origins=origins_of(config) | dict.fromkeys(inherited, CHECKPOINT))
