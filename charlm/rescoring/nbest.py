"""What an n-best list is once read, whatever wrote it: hypotheses, each with its utterance, its
words and the decoder's scores in one convention, and what a format module provides to read one.

Every score read is a base-10 log-probability, higher is better, as SRILM writes its own lists:
each format converts its own (a Kaldi cost c, a positive natural-log cost, is −c / ln 10; a
bytelog b, b · 1024 / 10000.5 / ln 10; a Moses score s, a natural-log score, s / ln 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from charlm.data.corpus import CorpusStats, read_lines
from charlm.errors import CorpusError

LN10 = math.log(10.0)


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis of an n-best list, as read."""

    utterance: str
    """The id of the utterance (or input sentence) it is a hypothesis of."""
    id: str
    """Its own id: Kaldi's `utt-N` key; in the other formats its rank in its utterance's list,
    from 1 ("" until the list is grouped, reading.py)."""
    words: tuple[str, ...]
    """Its words, as the list writes them."""
    am: float
    """The decoder's score (a recogniser's acoustic score, a translator's total score): log10,
    higher is better; 0 where the list has none."""
    decoder_lm: float | None
    """The decoder's own language-model score, log10, higher is better, where the list has one."""
    file: str
    line: int

    @property
    def text(self) -> str:
        """Its words, joined by single spaces."""
        return " ".join(self.words)

    @property
    def source(self) -> str:
        """Where it was read, as messages name it: FILE:LINE."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class NbestFiles:
    """What a format reads: the n-best files in order and, for a format that keeps its scores in
    files of their own (Kaldi), those files; what reading finds wrong goes into `stats`."""

    files: tuple[Path, ...]
    am_scores: Path | None = None
    lm_scores: Path | None = None
    stats: CorpusStats = field(default_factory=CorpusStats, compare=False)


@dataclass(frozen=True)
class NbestFormat:
    """A format of n-best lists: its name (`--nbest-format`), whether a line is written in it
    (the first line of a list, to recognise the format; no line is written in two formats), its
    reader, and whether it reads its scores from --am-scores and --lm-scores."""

    name: str
    recognises: Callable[[str], bool]
    read: Callable[[NbestFiles], Iterator[Hypothesis]]
    companion_scores: bool = False


def numbered_lines(path: Path, stats: CorpusStats) -> Iterator[tuple[int, str]]:
    """(line number, line) of each line of a list file that is not blank, read as every text
    file is (a .gz file, invalid UTF-8 replaced and counted in `stats`)."""
    for number, line in enumerate(read_lines(path, stats=stats), start=1):
        if line.strip():
            yield number, line


def malformed(file: Path | str, line: int, problem: str, layout: str) -> CorpusError:
    """The refusal of a line that is not in its format's layout."""
    return CorpusError(f"{file}:{line}: {problem}; each line of this list is {layout}")


def number(text: str, file: Path | str, line: int, what: str, layout: str) -> float:
    """A score written on a line, refused in one line when it is no finite number."""
    try:
        value = float(text)
    except ValueError:
        raise malformed(file, line, f"the {what} {text!r} is not a number", layout) from None
    if not math.isfinite(value):
        raise malformed(file, line, f"the {what} {text!r} is not a finite number", layout)
    return value
