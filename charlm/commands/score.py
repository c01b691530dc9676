"""`charlm score`: a model as a measuring instrument, one row per sentence.

Text is read from files (any format `train` reads) or standard input, split into sentences and
tokenized exactly as `evaluate` does, or, with --split one-per-line, each line is one sentence as
given.
Every sentence is scored in the batches `evaluate` uses (scoring.py), so the summary printed at the
end is `evaluate`'s, digit for digit, and the per-sentence log-probabilities add up to its total.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from charlm.bounds import READING
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
from charlm.commands.rows import write_lines
from charlm.data.corpus import ONE_PER_LINE, SPLIT_CHOICES, is_csv
from charlm.data.settings import CONTEXTS, SENTENCE
from charlm.devices import DEVICE_CHOICES
from charlm.errors import ConfigError
from charlm.options import Former, option

if TYPE_CHECKING:
    from charlm.evaluation.scoring import Evaluation, SentenceScore
    from charlm.evaluation.text import Scoring

COLUMNS = ("sentence", "text", "tokens", "oov", "log_prob", "log10_prob", "perplexity")


@dataclass
class ScoreConfig:
    """Settings of `charlm score`."""

    COMMAND = "score"

    model: str | None = option(None, "Checkpoint to score with.", argument=True)
    files: list[str] = option(
        [], "Text to score, in any format train reads; none, or -, reads standard input.",
        argument=True,
    )
    split: str | None = option(
        None,
        "How text is cut before sentence splitting (see charlm train --split); one-per-line "
        "scores each line as one sentence exactly as given, none left out (for a list of "
        "candidates). Default: as the checkpoint's training corpus was.",
        choices=SPLIT_CHOICES,
        formerly=(Former("one_per_line", {True: ONE_PER_LINE, False: None}, switch=True),),
    )
    json: bool = option(
        False, "Print JSON lines: one object per sentence, then one holding the summary."
    )
    text_column: str | None = option(
        None, "CSV column holding the text. Default: body, else text, else the first column."
    )
    batch_size: int = option(256, "Sentences per scoring batch (document context: pieces of "
                             "running text read side by side).",
                             **READING["batch_size"])
    context: str | None = option(
        None,
        "What each sentence is scored after: document (everything before it in its document, "
        "a file or a CSV row) or sentence (nothing). Default: as the model was trained; with "
        "--split one-per-line, sentence (each line alone; document reads each file's lines as "
        "running text).",
        choices=CONTEXTS,
    )
    truecase: bool = option(
        True,
        "Show each sentence's text as the input writes it; --no-truecase shows it as the model "
        "reads it, lowercased (as for checkpoints from before the corpus's casing was kept).",
        shared=True,
    )
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
            raise ConfigError("no checkpoint given: charlm score MODEL.pt [FILE...]")
        if self.text_column is not None and not any(is_csv(Path(f)) for f in self.files):
            raise ConfigError(f"{sources['text_column']} applies only to CSV files (.csv); drop "
                              "it for text")
        dynamic_settings(self, sources)
        check_ngram(self, sources)

    @property
    def inputs(self) -> list[str]:
        from charlm.data.reading import STDIN

        return list(self.files) or [STDIN]


def score(config: ScoreConfig) -> Scoring:
    """Score every sentence; prints nothing."""
    from charlm.api import load

    model = load(str(config.model), config.device, config.truecase)
    return model.score_text(config.inputs, text_column=config.text_column,
                            batch_size=config.batch_size, split=config.split,
                            dynamic=dynamic_settings(config), context=config.context,
                            ngram=ngram_mix(model, config, scored_context(config),
                                            config.split))


def scored_context(config: ScoreConfig) -> str | None:
    """The context the lines are scored in, for reading --ngram-dev alike: lines one per line
    alone unless --context says otherwise; else the model's (None)."""
    if config.context is None and config.split == ONE_PER_LINE:
        return SENTENCE
    return config.context


def sentence_rows(scores: list[SentenceScore]) -> Iterator[dict]:
    """One record per sentence, in input order."""
    for s in scores:
        yield {"sentence": s.number, "text": s.text, "tokens": s.tokens, "oov": s.oov,
               "log_prob": s.log_prob, "log10_prob": s.log10_prob, "perplexity": s.perplexity}


def _tsv(row: dict) -> str:
    # A tab inside a line would start a new column: it is shown as a space.
    text = row["text"].replace("\t", " ")
    return (f"{row['sentence']}\t{text}\t{row['tokens']}\t{row['oov']}\t{row['log_prob']:.6f}\t"
            f"{row['log10_prob']:.6f}\t{row['perplexity']:.6g}\n")


def _json(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def score_rows(result: Evaluation) -> list[tuple[str, str]]:
    """`evaluate`'s summary, then the figures only `score` prints."""
    from charlm.evaluation.scoring import summary_rows

    return summary_rows(result) + [
        ("log-prob", f"{result.log_prob:.4f} (natural log; log10 {result.log10_prob:.4f})"),
    ]


def print_scores(config: ScoreConfig) -> Evaluation:
    """Run `charlm score`: the rows on standard output; the summary after them (--json) or on
    standard error, so the rows stay a clean table."""
    scoring = score(config)
    for warning in scoring.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    result = scoring.summary
    rows = sentence_rows(scoring.scores)
    if config.json:
        summary = json.dumps({"summary": asdict(result) | {"model": config.model}},
                             ensure_ascii=False)
        written = write_lines(itertools.chain(map(_json, rows), [summary + "\n"]))
    else:
        written = write_lines(itertools.chain(["\t".join(COLUMNS) + "\n"], map(_tsv, rows)))
    if written and not config.json:
        for name, value in score_rows(result):
            typer.echo(f"{name:<14}{value}", err=True)
    return result
