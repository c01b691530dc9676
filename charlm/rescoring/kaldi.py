"""Kaldi's n-best lists: the words of each hypothesis in a text archive of `utt-N word word ...`
lines (N its rank, as `nbest-to-linear` and `int2sym.pl` write them in `lmrescore_nbest.sh`), an
empty hypothesis the key alone; its costs in archives of their own, `utt-N cost` lines:
--am-scores the acoustic cost, --lm-scores the graph or language-model cost. A cost is a positive
natural-log cost (minus a log-probability), read as −cost / ln 10."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from charlm.data.corpus import CorpusStats
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

KEY = re.compile(r"(\S+)-(\d+)")
LAYOUT = "`utterance-N word word ...` (N the hypothesis's rank)"
COST_LAYOUT = "`utterance-N cost` (a positive natural-log cost)"

# Each hypothesis's cost as log10 (higher is better) and the line it was read from.
Costs = dict[str, tuple[float, int]]


def recognises(line: str) -> bool:
    fields = line.split(maxsplit=1)
    return ("\t" not in line and "|||" not in line and bool(fields)
            and KEY.fullmatch(fields[0]) is not None)


def read_costs(path: Path, stats: CorpusStats) -> Costs:
    """A companion archive of costs, each key once."""
    costs: Costs = {}
    for line, text in numbered_lines(path, stats):
        fields = text.split()
        if len(fields) != 2 or KEY.fullmatch(fields[0]) is None:
            raise malformed(path, line, f"{len(fields)} field(s) where a key and a cost go",
                            COST_LAYOUT)
        key = fields[0]
        if key in costs:
            raise CorpusError(f"{path}:{line}: {key} has a cost already (line "
                              f"{costs[key][1]}); give each hypothesis's cost once")
        costs[key] = (-number(fields[1], path, line, "cost", COST_LAYOUT) / LN10, line)
    return costs


def cost_of(costs: Costs | None, path: Path | None, key: str, where: str) -> float | None:
    """A hypothesis's cost as log10, None without a companion archive; refused when the
    archive lacks it."""
    if costs is None or path is None:
        return None
    if key not in costs:
        raise CorpusError(f"{path} has no cost for {key} ({where}); give a cost for every "
                          "hypothesis of the lists")
    return costs[key][0]


def check_all_used(costs: Costs | None, path: Path | None, keys: set[str]) -> None:
    """Refuse a cost of a hypothesis no list holds: the archives of other lists."""
    for key, (_, line) in (costs or {}).items():
        if key not in keys:
            raise CorpusError(f"{path}:{line}: {key} is no hypothesis of the n-best lists "
                              "given; give the costs of these lists")


def read(files: NbestFiles) -> Iterator[Hypothesis]:
    am = read_costs(files.am_scores, files.stats) if files.am_scores else None
    lm = read_costs(files.lm_scores, files.stats) if files.lm_scores else None
    keys: set[str] = set()
    for path in files.files:
        for line, text in numbered_lines(path, files.stats):
            key, *words = text.split()
            match = KEY.fullmatch(key)
            if match is None:
                raise malformed(path, line, f"{key!r} is no key of the form utterance-N", LAYOUT)
            where = f"{path}:{line}"
            acoustic = cost_of(am, files.am_scores, key, where)
            yield Hypothesis(match[1], key, tuple(words), 0.0 if acoustic is None else acoustic,
                             cost_of(lm, files.lm_scores, key, where), str(path), line)
            keys.add(key)
    check_all_used(am, files.am_scores, keys)
    check_all_used(lm, files.lm_scores, keys)


FORMAT = NbestFormat("kaldi", recognises, read, companion_scores=True)
