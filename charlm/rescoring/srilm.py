"""SRILM's n-best lists (its nbest-format(5) page), one utterance a file, the utterance's id the
file's name (less `.gz`), the hypotheses one a line:

- SRILM's own format, `ascore lscore nwords word ...` (the acoustic and language-model scores as
  log10, the word count), as `ngram -rescore` writes it;
- after a line `NBestList1.0`, `(score) word ...`: the recogniser's total score in bytelogs
  (log base 1.0001, divided by 1024), which holds its language model's score too;
- after a line `NBestList2.0`, `(score) word ( st: S et: E g: G a: A ) ...`: each word with its
  times, language-model score G and acoustic score A in bytelogs; the acoustic score is the sum
  of the words' A and the language-model score the sum of their G, as SRILM reads them. Phones
  and states may follow a word in the same layout: a unit that starts before the previous word
  ends is one of them, and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path

from charlm.errors import CorpusError
from charlm.rescoring.nbest import (
    LN10,
    Hypothesis,
    NbestFiles,
    NbestFormat,
    malformed,
    number,
    numbered_lines,
)

NBEST1, NBEST2 = "NBestList1.0", "NBestList2.0"
# SRILM's BytelogToLogP: a bytelog as log10.
BYTELOG = 1024.0 / 10000.5 / LN10
NATIVE_LAYOUT = "`ascore lscore nwords word ...` (log10 scores, then the word count)"
NBEST1_LAYOUT = f"`(score) word ...` (after {NBEST1}: a bytelog score)"
NBEST2_LAYOUT = f"`(score) word ( st: S et: E g: G a: A ) ...` (after {NBEST2})"
# A word of NBestList2.0 and its 10 fields: ( st: S et: E g: G a: A ).
UNIT_FIELDS = 11
UNIT_MARKS = {1: "(", 2: "st:", 4: "et:", 6: "g:", 8: "a:", 10: ")"}

# A hypothesis read from a line: its words, its acoustic and its language-model score.
Parsed = tuple[tuple[str, ...], float, float | None]
Parser = Callable[[str, Path, int], Parsed]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def recognises(line: str) -> bool:
    if "\t" in line or "|||" in line:
        return False
    if line.startswith((NBEST1, NBEST2)):
        return True
    fields = line.split()
    return (len(fields) >= 3 and _is_number(fields[0]) and _is_number(fields[1])
            and fields[2].isdigit())


def utterance_of(path: Path) -> str:
    return path.name.removesuffix(".gz")


def native(text: str, path: Path, line: int) -> Parsed:
    fields = text.split()
    if len(fields) < 3 or not fields[2].isdigit():
        raise malformed(path, line, "no word count in the third field", NATIVE_LAYOUT)
    return (tuple(fields[3:]), number(fields[0], path, line, "acoustic score", NATIVE_LAYOUT),
            number(fields[1], path, line, "language-model score", NATIVE_LAYOUT))


def _bytelog(field: str, path: Path, line: int, layout: str) -> float:
    if not (field.startswith("(") and field.endswith(")")):
        raise malformed(path, line, f"{field!r} is no score in parentheses", layout)
    return number(field[1:-1], path, line, "score", layout) * BYTELOG


def decipher1(text: str, path: Path, line: int) -> Parsed:
    score, *words = text.split()
    return tuple(words), _bytelog(score, path, line, NBEST1_LAYOUT), None


def decipher2(text: str, path: Path, line: int) -> Parsed:
    score, *fields = text.split()
    _bytelog(score, path, line, NBEST2_LAYOUT)
    if len(fields) % UNIT_FIELDS:
        raise malformed(path, line, f"{len(fields)} fields after the score, not {UNIT_FIELDS} "
                        "for each word", NBEST2_LAYOUT)
    words: list[str] = []
    acoustic = language = 0.0
    previous_end = -1.0
    for start in range(0, len(fields), UNIT_FIELDS):
        unit = fields[start : start + UNIT_FIELDS]
        for offset, mark in UNIT_MARKS.items():
            if unit[offset] != mark:
                raise malformed(path, line, f"{unit[offset]!r} where {mark!r} goes, after "
                                f"{unit[0]!r}", NBEST2_LAYOUT)
        begins, ends, lm, am = (number(unit[i], path, line, name, NBEST2_LAYOUT) for i, name in
                                ((3, "start time"), (5, "end time"), (7, "g: score"),
                                 (9, "a: score")))
        if begins > previous_end:
            words.append(unit[0])
            acoustic += am
            language += lm
            previous_end = ends
    return tuple(words), acoustic * BYTELOG, language * BYTELOG


def parser_of(first: str) -> Parser | None:
    """How a list's lines read, from its first: after a header (None: the header is that
    line), or SRILM's own."""
    if first.startswith(NBEST1):
        return decipher1
    if first.startswith(NBEST2):
        return decipher2
    return None


def read(files: NbestFiles) -> Iterator[Hypothesis]:
    for path in files.files:
        lines = numbered_lines(path, files.stats)
        first = next(lines, None)
        parse = parser_of(first[1]) if first is not None else None
        if parse is None:
            parse = native
            lines = chain([first], lines) if first is not None else lines
        empty = True
        for line, text in lines:
            words, am, lm = parse(text, path, line)
            yield Hypothesis(utterance_of(path), "", words, am, lm, str(path), line)
            empty = False
        if empty:
            raise CorpusError(f"{path} holds no hypothesis: an n-best list of SRILM's holds one "
                              "utterance's hypotheses, one a line")


FORMAT = NbestFormat("srilm", recognises, read)
