"""Text scored with a trained model: the one scoring call behind `Model.score`, `score_text`,
`evaluate` and `evaluate_files` (and so `charlm score` and `charlm evaluate`), over text that
charlm.data.reading read. Every predicted token's surprisal comes from charlm.evaluation.scoring, so
every figure of every way in agrees with training's validation to the last digit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from charlm.checkpoint.trained import TrainedModel
from charlm.data.reading import FileReader, ReadText
from charlm.data.types import EncodedSentences
from charlm.errors import CharlmError, ConfigError
from charlm.evaluation.dynamic import (
    Adaptation,
    GradientMeter,
    TrainingGradients,
    training_gradients,
)
from charlm.evaluation.dynamic_settings import DynamicSettings
from charlm.evaluation.ngram import NgramMix, interpolate, ngram_surprisals
from charlm.evaluation.scoring import (
    Evaluation,
    SentenceScore,
    sentence_scores,
    summarise,
    token_surprisals,
)
from charlm.options import python_argument

# How a caller asks for dynamic evaluation: True (the default settings) or the settings.
Dynamic = bool | DynamicSettings


@dataclass
class Scoring:
    """Text scored: the summary, every predicted token's surprisal (in nats, in the layout of
    `sentences`: charlm.evaluation.scoring.token_surprisals), each sentence's score where the text
    was read sentence by sentence, and how each file read whole was read."""

    summary: Evaluation
    sentences: EncodedSentences
    surprisal: np.ndarray
    scores: list[SentenceScore]
    """One per sentence, in input order; none for files evaluated whole (`evaluate_files`)."""
    readers: list[FileReader]
    """How each file evaluated whole was read, to read its words again (--per-token)."""

    @property
    def warnings(self) -> list[str]:
        """What reading the text found wrong, one line each: the summary's."""
        return self.summary.warnings

    def sentences_again(self) -> Iterator[tuple[FileReader, int, list[str]]]:
        """Each sentence of the files evaluated whole, in order: how its file was read, its
        index in `sentences` and its words read again, each as written, out-of-vocabulary ones
        too; refused when a file reads otherwise than it did."""
        offsets = self.sentences.offsets
        index = 0
        for reader in self.readers:
            for words in reader.sentences():
                if len(words) != offsets[index + 1] - offsets[index]:
                    raise CharlmError(f"{reader.path} read differently the second time; was it "
                                      "changed during evaluation?")
                yield reader, index, words
                index += 1


def dynamic_settings(dynamic: Dynamic) -> DynamicSettings | None:
    """The settings a `dynamic` argument asks for (None: plain scoring), checked."""
    if isinstance(dynamic, DynamicSettings):
        problem = dynamic.problem()
        if problem:
            raise ConfigError(problem)
        return dynamic
    if not isinstance(dynamic, bool):
        raise ConfigError(f"{python_argument('dynamic')}: {dynamic!r} is not a yes/no value; give "
                          "True, False or DynamicSettings(...)")
    return DynamicSettings() if dynamic else None


def adaptation_for(trained: TrainedModel, path: str, dynamic: Dynamic,
                   measure: Callable[[DynamicSettings], TrainingGradients]
                   ) -> Adaptation | None:
    """The adapting copy of the model that dynamic evaluation scores with (None for plain
    scoring); refuses bad settings, and a checkpoint (at `path`) without training's mean
    squared gradients, before any work. With settings that name a text to measure them on,
    `measure` measures them there. It adapts as it reads: one scoring's only."""
    settings = dynamic_settings(dynamic)
    if settings is None:
        return None
    gradients = (measure(settings) if settings.gradients_from is not None
                 else training_gradients(trained, path))
    return Adaptation(trained.model, settings, gradients)


def measured_gradients(trained: TrainedModel, device: torch.device, read: ReadText,
                       settings: DynamicSettings, batch_size: int, context: str
                       ) -> TrainingGradients:
    """The mean squared gradients of text read (the training text), each segment's as dynamic
    evaluation with `settings` would take them while scoring it in `context`."""
    meter = GradientMeter(trained.model, settings)
    token_surprisals(trained.model, read.sentences, device, batch_size, meter, context)
    return meter.gradients()


def score_read(trained: TrainedModel, device: torch.device, read: ReadText, batch_size: int,
               adaptation: Adaptation | None, context: str, ngram: NgramMix | None = None
               ) -> Scoring:
    """Every token of text read scored in batches of `batch_size` (by `adaptation` when given),
    each sentence alone or, in document `context`, after the text before it in its
    document, and mixed with the `ngram` model's probabilities when given; summarised with how
    the text was read and what reading found wrong."""
    surprisal = token_surprisals(trained.model, read.sentences, device, batch_size, adaptation,
                                 context)
    if ngram is not None:
        surprisal = interpolate(surprisal, ngram_surprisals(ngram.model, read.sentences,
                                                            trained.vocabulary), ngram.weight)
    summary = summarise(read.names, read.sentences, surprisal,
                        adaptation.settings if adaptation else None, context)
    scores = (sentence_scores(read.texts, read.words, read.sentences, surprisal)
              if read.texts else [])
    return Scoring(replace(summary, split=read.splits, warnings=read.warnings,
                           ngram=ngram.describe() if ngram else None),
                   read.sentences, surprisal, scores, read.readers)
