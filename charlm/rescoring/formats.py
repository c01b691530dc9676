"""The formats of n-best lists charlm reads, each a module of this package: a new format is a
module that provides an NbestFormat (nbest.py) and its line here. `--nbest-format` takes their
names, and a list's format is recognised by the one whose layout its first line is written in."""

from __future__ import annotations

from charlm.rescoring import kaldi, moses, srilm, tsv
from charlm.rescoring.nbest import NbestFormat

NBEST_FORMATS: dict[str, NbestFormat] = {
    format.name: format for format in (kaldi.FORMAT, srilm.FORMAT, moses.FORMAT, tsv.FORMAT)
}
NBEST_FORMAT_NAMES = tuple(NBEST_FORMATS)


def formats_of(line: str) -> list[str]:
    """The names of the formats whose layout `line` is written in (one, but for a line of none,
    or of a layout several formats take)."""
    return [name for name, format in NBEST_FORMATS.items() if format.recognises(line)]
