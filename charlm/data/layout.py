"""Choosing how a corpus is cut into units before sentence splitting (the split setting).

`auto` reads a sample of lines from the start of the corpus and tells two layouts apart:
- wrapped prose, where a sentence runs on across line breaks: a line ends only because the next
  word would not fit, so (nearly) every line that another line follows is close to the widest;
- one unit per line (a sentence, title, message or paragraph per line): line widths vary freely,
  or lines end with their sentence's punctuation, or hold no sentence punctuation at all.
Wrapped prose with sentence punctuation reads as paragraphs; everything else as lines. Text whose
paragraphs are single lines reads the same either way, and is read as paragraphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from charlm.data.corpus import AUTO, LINES, PARAGRAPHS, SPLIT_CHOICES, sample_lines

SAMPLE_LINES = 2000
SAMPLE_CHARS = 1 << 20
# A line "ends a sentence" when its last character is sentence punctuation, perhaps followed by
# closing quotes, brackets or emphasis marks.
SENTENCE_END = re.compile(r"[.!?…][\"'’”»)\]_*]*$")
# Sentence punctuation followed by more text on the same line.
SENTENCE_BOUNDARY = re.compile(r"[.!?…][\"'’”»)\]_*]*\s+\S")
# Lines that end their sentences: this share and more of the lines reads as lines.
LINES_END_SENTENCES = 0.8
# Wrapped: this share of line breaks at least falls where the next word would not have fitted.
WRAPPED_BREAKS = 0.6
# Prose: this share of lines at least holds sentence punctuation.
PUNCTUATED_LINES = 0.2
# The wrap width is taken as this percentile of line widths, so a few over-long lines (a URL, a
# table row) do not hide the wrapping.
WIDTH_PERCENTILE = 0.95


@dataclass(frozen=True)
class SplitChoice:
    """The split a corpus is read with, and why."""

    mode: str
    reason: str

    def line(self) -> str:
        return f"text split: {self.mode} ({self.reason})"

    def to_dict(self) -> dict[str, str]:
        return {"mode": self.mode, "reason": self.reason}


@dataclass(frozen=True)
class LineLayout:
    """What a sample of lines shows about how its text was laid out."""

    lines: int
    """Non-blank lines."""
    breaks: int
    """Line breaks between two non-blank lines: where paragraphs would join lines."""
    wrapped_breaks: int
    """Of those, the breaks where the line is too full to have taken the next line's first word."""
    width: int
    """The wrap width: a high percentile of the widths of lines that another line follows."""
    sentence_ends: int
    """Lines that end with sentence punctuation."""
    punctuated: int
    """Lines that hold sentence punctuation anywhere."""


def measure_layout(sample: list[str]) -> LineLayout:
    """The layout of stripped lines, in which a blank line ends a paragraph."""
    texts = [line for line in sample if line]
    pairs = [(line, following) for line, following in zip(sample, sample[1:])
             if line and following]
    # Only lines that another line follows can show wrapping; lines standing alone (a heading,
    # a paragraph on one long line) say nothing about the wrap width.
    widths = sorted(len(line) for line, _ in pairs)
    width = widths[int(WIDTH_PERCENTILE * (len(widths) - 1))] if widths else 0
    wrapped = sum(1 for line, following in pairs
                  if len(line) + 1 + len(following.split()[0]) > width)
    ends = sum(1 for line in texts if SENTENCE_END.search(line))
    punctuated = sum(1 for line in texts
                     if SENTENCE_END.search(line) or SENTENCE_BOUNDARY.search(line))
    return LineLayout(len(texts), len(pairs), wrapped, width, ends, punctuated)


def decide_split(layout: LineLayout) -> SplitChoice:
    """paragraphs or lines for a layout, with the reason in words."""
    if layout.breaks == 0:
        return SplitChoice(PARAGRAPHS, "auto: every paragraph is a single line, so lines and "
                                       "paragraphs are the same")
    ends = layout.sentence_ends / layout.lines
    if ends >= LINES_END_SENTENCES:
        return SplitChoice(LINES, f"auto: {ends:.0%} of lines end with sentence punctuation, so "
                                  "each line ends its sentences")
    wrapped = layout.wrapped_breaks / layout.breaks
    punctuated = layout.punctuated / layout.lines
    if punctuated < PUNCTUATED_LINES:
        return SplitChoice(LINES, f"auto: {layout.punctuated:,} of {layout.lines:,} lines looked "
                                  "at hold sentence punctuation, so each line is taken as a unit")
    if wrapped >= WRAPPED_BREAKS:
        return SplitChoice(PARAGRAPHS, f"auto: lines are wrapped at about {layout.width} "
                                       "characters and sentences run across them")
    return SplitChoice(LINES, f"auto: line widths vary (only {wrapped:.0%} of lines are too full "
                              "for the next word), so lines are not wrapped prose")


def choose_split(path: str | Path, requested: str, text_column: str | None = None
                 ) -> SplitChoice:
    """The split to read a corpus with: `requested`, or with `auto` the one its text suggests."""
    if requested not in SPLIT_CHOICES:
        raise ValueError(f"unknown split {requested!r}")
    if requested != AUTO:
        return SplitChoice(requested, "set by --split")
    sample = sample_lines(path, text_column, SAMPLE_LINES, SAMPLE_CHARS)
    return decide_split(measure_layout(sample))
