"""Moses's n-best lists (`moses -n-best-list FILE N`): `id ||| text ||| features ||| score`, and
a fifth field, the alignment, where the decoder was asked for one. The id is the number of the
input sentence, the features are the unweighted feature scores (not read), and the score is the
weighted total, a natural-log score (higher is better), read as score / ln 10: the decoder's
score, which takes the place of an acoustic score."""

from __future__ import annotations

from collections.abc import Iterator

from charlm.rescoring.nbest import (
    LN10,
    Hypothesis,
    NbestFiles,
    NbestFormat,
    malformed,
    number,
    numbered_lines,
)

SEPARATOR = "|||"
LAYOUT = "`id ||| text ||| features ||| score`, and an optional alignment field"


def recognises(line: str) -> bool:
    return SEPARATOR in line


def read(files: NbestFiles) -> Iterator[Hypothesis]:
    for path in files.files:
        for line, text in numbered_lines(path, files.stats):
            fields = [field.strip() for field in text.split(SEPARATOR)]
            if len(fields) not in (4, 5):
                raise malformed(path, line, f"{len(fields)} fields between {SEPARATOR}, not 4 "
                                "or 5", LAYOUT)
            if len(fields[0].split()) != 1:
                raise malformed(path, line, f"{fields[0]!r} is no id", LAYOUT)
            score = number(fields[3], path, line, "score", LAYOUT)
            yield Hypothesis(fields[0], "", tuple(fields[1].split()), score / LN10, None,
                             str(path), line)


FORMAT = NbestFormat("moses", recognises, read)
