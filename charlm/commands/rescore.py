"""`charlm rescore`: n-best lists rescored with a model, one row per hypothesis, or the 1-best of
each utterance.

The lists are read and scored by `Model.rescore` (charlm/rescoring); this prints what it returns:
the rows in the order of the lists, with the ids they give, on standard output, and a line of
totals on standard error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from charlm.bounds import READING
from charlm.commands.ngram_options import (
    check_ngram,
    ngram_dev_option,
    ngram_mix,
    ngram_option,
    ngram_weight_option,
)
from charlm.commands.rows import write_lines
from charlm.data.corpus import ONE_PER_LINE
from charlm.data.settings import DOCUMENT, SENTENCE
from charlm.devices import DEVICE_CHOICES
from charlm.errors import ConfigError
from charlm.options import option
from charlm.rescoring.settings import PREVIOUS, RESCORING, UTTERANCE

if TYPE_CHECKING:
    from charlm.rescoring.rescore import RescoredHypothesis, RescoredUtterance, Rescoring

SCORES, BEST, BOTH = "scores", "best", "both"
# --ngram-dev is reference transcripts, a line each, read as the hypotheses are: each line alone,
# or each after the lines before it.
DEVELOPMENT_CONTEXT = {UTTERANCE: SENTENCE, PREVIOUS: DOCUMENT}
OUTPUTS = (SCORES, BEST, BOTH)
COLUMNS = ("utterance", "hypothesis", "words", "oov", "am", "decoder_lm", "lm_log_prob",
           "lm_log10_prob", "score", "text")


@dataclass
class RescoreConfig:
    """Settings of `charlm rescore`."""

    COMMAND = "rescore"

    model: str | None = option(None, "Checkpoint to rescore with.", argument=True)
    nbest: list[str] = option(
        [], "N-best lists: files, or directories of them (their files in name order).",
        argument=True,
    )
    nbest_format: str | None = option(
        None,
        "The lists' format: kaldi (utt-N word ... lines), srilm (one utterance a file: "
        "ascore lscore nwords word ..., or NBestList1.0 and NBestList2.0), moses (id ||| text "
        "||| features ||| score) or tsv (utterance, hypothesis, scores, tab-separated). Default: "
        "recognised from the first line.",
        **RESCORING["nbest_format"],
    )
    am_scores: str | None = option(
        None, "Kaldi: a file of utt-N cost lines, each hypothesis's acoustic cost (a positive "
        "natural-log cost), read as the am score."
    )
    lm_scores: str | None = option(
        None, "Kaldi: a file of utt-N cost lines, each hypothesis's graph or language-model "
        "cost, shown as decoder_lm (not in the combined score)."
    )
    am_weight: float = option(
        1.0, "Weight of the decoder's score (the acoustic score; a translator's total score) in "
        "the combined score, am_weight*am + lm_weight*lm + word_penalty*words, all log10.",
        **RESCORING["am_weight"],
    )
    lm_weight: float = option(1.0, "Weight of the model's log10 probability in the combined "
                              "score.", **RESCORING["lm_weight"])
    word_penalty: float = option(
        0.0, "Added to the combined score for each word of a hypothesis: negative favours "
        "short hypotheses, positive long ones.",
        **RESCORING["word_penalty"],
    )
    unk_penalty: float = option(
        0.0, "Added to the model's log10 probability of a hypothesis for each of its words "
        "outside the vocabulary (whose probability is the model's of UNKNOWN_TOKEN).",
        **RESCORING["unk_penalty"],
    )
    context: str = option(
        UTTERANCE,
        "What each hypothesis is read after: utterance (nothing: each a sentence alone) or "
        "previous (the 1-bests chosen for the utterances before it, in the lists' order, as "
        "running text).",
        **RESCORING["context"],
    )
    output: str = option(
        BOTH,
        "What is printed: scores (a row per hypothesis), best (each utterance's 1-best as "
        "'utterance words', Kaldi's text layout) or both (the rows, and a best column).",
        choices=OUTPUTS,
    )
    batch_size: int = option(256, "Hypotheses read side by side at most, in whole utterances "
                             "(an utterance of more is read in one batch still).",
                             **READING["batch_size"])
    device: str = option("cpu", "Where to run the model.", choices=DEVICE_CHOICES, shared=True)
    ngram: str | None = ngram_option()
    ngram_weight: str = ngram_weight_option()
    ngram_dev: str | None = ngram_dev_option()

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm rescore MODEL.pt NBEST...")
        if not self.nbest:
            raise ConfigError("no n-best list given: charlm rescore MODEL.pt NBEST...")
        check_ngram(self, sources)


def rescore(config: RescoreConfig) -> Rescoring:
    """Rescore the lists; prints nothing."""
    from charlm.api import load

    model = load(str(config.model), config.device)
    return model.rescore(config.nbest, config.nbest_format, am_scores=config.am_scores,
                         lm_scores=config.lm_scores, am_weight=config.am_weight,
                         lm_weight=config.lm_weight, word_penalty=config.word_penalty,
                         unk_penalty=config.unk_penalty, context=config.context,
                         batch_size=config.batch_size, ngram=ngram_mix(
                             model, config, DEVELOPMENT_CONTEXT[config.context], ONE_PER_LINE))


def _row(scored: RescoredHypothesis) -> list[str]:
    hypothesis = scored.hypothesis
    decoder_lm = "" if hypothesis.decoder_lm is None else f"{hypothesis.decoder_lm:.6f}"
    return [hypothesis.utterance, hypothesis.id, str(scored.word_count), str(scored.oov),
            f"{hypothesis.am:.6f}", decoder_lm, f"{scored.lm_log_prob:.6f}",
            f"{scored.lm_log10_prob:.6f}", f"{scored.score:.6f}", hypothesis.text]


def table_lines(utterances: list[RescoredUtterance], best_column: bool) -> Iterator[str]:
    """The header and a row per hypothesis, in the lists' order; with `best_column`, a last
    column that is 1 for each utterance's 1-best, else 0."""
    yield "\t".join(COLUMNS + (("best",) if best_column else ())) + "\n"
    for utterance in utterances:
        for index, scored in enumerate(utterance.hypotheses):
            marks = [str(int(index == utterance.best_index))] if best_column else []
            yield "\t".join(_row(scored) + marks) + "\n"


def best_lines(utterances: list[RescoredUtterance]) -> Iterator[str]:
    """Each utterance's 1-best, as Kaldi's text archives (and its WER scoring) read it."""
    for utterance in utterances:
        yield " ".join([utterance.id, *utterance.best.hypothesis.words]) + "\n"


def mixed_with(rescored: Rescoring) -> str:
    """What the totals line says of the n-gram mixed in, if any."""
    mix = rescored.ngram
    if mix is None:
        return ""
    chosen = f", chosen on {mix.chosen_on}" if mix.chosen_on else ""
    return f"; interpolated with {mix.model.path}, weight {mix.weight:.4f}{chosen}"


def print_rescoring(config: RescoreConfig) -> Rescoring:
    """Run `charlm rescore`: the rows (or the 1-bests) on standard output, the totals on
    standard error."""
    rescored = rescore(config)
    for warning in rescored.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    utterances = rescored.utterances
    lines = (best_lines(utterances) if config.output == BEST
             else table_lines(utterances, config.output == BOTH))
    if write_lines(lines):
        typer.echo(f"rescored {rescored.hypothesis_count:,} hypotheses of "
                   f"{len(utterances):,} utterances ({rescored.format} lists, context "
                   f"{rescored.context}); {rescored.unknown_word_count:,} unknown words"
                   f"{mixed_with(rescored)}", err=True)
    return rescored
