"""N-best lists as a table: `utterance<TAB>hypothesis<TAB>score...`, one hypothesis a line, the
hypothesis's words separated by spaces. Its scores are in charlm's convention, log10 and higher
is better: the first, where given, is the decoder's score (an acoustic score), a second the
decoder's language-model score; without a score the hypothesis is ranked by the language model
alone."""

from __future__ import annotations

from collections.abc import Iterator

from charlm.rescoring.nbest import (
    Hypothesis,
    NbestFiles,
    NbestFormat,
    malformed,
    number,
    numbered_lines,
)

LAYOUT = ("`utterance<TAB>hypothesis<TAB>score...` (at most two scores, log10: the decoder's, "
          "then its language model's)")
SCORES = ("decoder's score", "decoder's language-model score")


def recognises(line: str) -> bool:
    return "\t" in line and "|||" not in line


def read(files: NbestFiles) -> Iterator[Hypothesis]:
    for path in files.files:
        for line, text in numbered_lines(path, files.stats):
            fields = text.split("\t")
            if not 2 <= len(fields) <= 2 + len(SCORES):
                raise malformed(path, line, f"{len(fields)} tab-separated field(s), not 2 to "
                                f"{2 + len(SCORES)}", LAYOUT)
            utterance = fields[0].strip()
            if len(utterance.split()) != 1:
                raise malformed(path, line, f"{utterance!r} is no utterance id", LAYOUT)
            scores = [number(field.strip(), path, line, what, LAYOUT)
                      for field, what in zip(fields[2:], SCORES)]
            yield Hypothesis(utterance, "", tuple(fields[1].split()),
                             scores[0] if scores else 0.0, scores[1] if len(scores) > 1 else None,
                             str(path), line)


FORMAT = NbestFormat("tsv", recognises, read)
