"""N-best lists read whole: the files named (a directory: its files, in name order), their format
named or recognised, each utterance's hypotheses grouped in the order read, and the lists
refused in one line, naming the file and line, where they are not what their format says or an
utterance or a hypothesis is given twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from charlm.errors import ConfigError, CorpusError
from charlm.paths import DIRECTORY, check_input, what_is
from charlm.rescoring.formats import NBEST_FORMATS, formats_of
from charlm.rescoring.nbest import Hypothesis, NbestFiles, numbered_lines


@dataclass(frozen=True)
class Utterance:
    """An utterance (or input sentence) and its hypotheses, in the order the list gives them."""

    id: str
    hypotheses: tuple[Hypothesis, ...]


@dataclass(frozen=True)
class NbestLists:
    """N-best lists read: their format, the files, the utterances in the order read, and what
    reading found wrong (one line each)."""

    format: str
    files: list[str]
    utterances: list[Utterance]
    warnings: list[str]


def list_files(paths: Sequence[str]) -> list[Path]:
    """The files the paths name: each file, or each file of a directory (not hidden), in name
    order; refused when one is missing or a directory holds none."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        check_input(path, "n-best list", CorpusError, directories=True)
        kind = what_is(path)
        if kind is None:
            raise CorpusError(f"n-best list not found: {path}; check the path")
        if kind != DIRECTORY:
            files.append(path)
            continue
        members = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
        if not members:
            raise CorpusError(f"no n-best lists in directory {path}: it holds no files")
        files.extend(members)
    return files


def recognised(path: Path, files: NbestFiles) -> str:
    """The format of the lists, from the first line of the first file."""
    first = next(numbered_lines(path, files.stats), None)
    if first is None:
        raise CorpusError(f"{path} holds no hypothesis: give n-best lists with at least one")
    line, text = first
    names = formats_of(text)
    if len(names) != 1:
        what = f"of layouts {' and '.join(names)} alike" if names else "of no layout charlm reads"
        raise CorpusError(f"{path}:{line}: cannot tell the format of the n-best lists, the "
                          f"line is {what}; name it with --nbest-format "
                          f"({', '.join(NBEST_FORMATS)})")
    return names[0]


def companion_file(name: str | None, flag: str) -> Path | None:
    """A file of scores beside the lists (--am-scores, --lm-scores), refused when missing."""
    if name is None:
        return None
    path = Path(name)
    check_input(path, "score", CorpusError)
    if what_is(path) is None:
        raise CorpusError(f"{flag} file not found: {path}; check the path")
    return path


def read_nbest(paths: Sequence[str], nbest_format: str | None = None,
               am_scores: str | None = None, lm_scores: str | None = None) -> NbestLists:
    """The n-best lists at `paths`, in `nbest_format` (None: recognised), with the files of
    scores of a format that keeps its scores apart (Kaldi's)."""
    if not paths:
        raise CorpusError("no n-best list given: give at least one file or directory")
    files = NbestFiles(tuple(list_files(paths)), companion_file(am_scores, "--am-scores"),
                       companion_file(lm_scores, "--lm-scores"))
    name = nbest_format or recognised(files.files[0], files)
    reader = NBEST_FORMATS[name]
    if not reader.companion_scores and (am_scores or lm_scores):
        keeping = ", ".join(n for n, f in NBEST_FORMATS.items() if f.companion_scores)
        raise ConfigError(f"--am-scores and --lm-scores are the scores of lists that keep them "
                          f"in files of their own ({keeping}), and these lists are read as "
                          f"{name}: leave them out")
    utterances = grouped(reader.read(files))
    return NbestLists(name, [str(f) for f in files.files], utterances, files.stats.warnings())


def grouped(hypotheses: Iterable[Hypothesis]) -> list[Utterance]:
    """Each utterance's hypotheses, in the order read: they lie together in one file, and an
    utterance's id and each hypothesis's are given once. A hypothesis without an id of its own
    is given its rank in its list."""
    lists: dict[str, list[Hypothesis]] = {}
    seen: dict[tuple[str, str], Hypothesis] = {}
    current: Hypothesis | None = None
    for hypothesis in hypotheses:
        if current is None or (hypothesis.utterance, hypothesis.file) != (current.utterance,
                                                                        current.file):
            _check_new(hypothesis, lists)
            lists[hypothesis.utterance] = []
        listed = lists[hypothesis.utterance]
        if not hypothesis.id:
            hypothesis = replace(hypothesis, id=str(len(listed) + 1))
        key = (hypothesis.utterance, hypothesis.id)
        if key in seen:
            raise CorpusError(f"{hypothesis.source}: hypothesis {hypothesis.id} is given twice "
                              f"(first at {seen[key].source}); give each hypothesis once")
        seen[key] = current = hypothesis
        listed.append(hypothesis)
    if not lists:
        raise CorpusError("the n-best lists given hold no hypothesis: give lists with at least one")
    return [Utterance(id, tuple(listed)) for id, listed in lists.items()]


def _check_new(hypothesis: Hypothesis, lists: dict[str, list[Hypothesis]]) -> None:
    """Refuse an utterance that began before: its hypotheses are not together, or its id is
    given twice."""
    if hypothesis.utterance in lists:
        first = lists[hypothesis.utterance][0]
        raise CorpusError(f"{hypothesis.source}: utterance {hypothesis.utterance} appears again "
                          f"(its list begins at {first.source}); give each utterance's "
                          "hypotheses together, and each utterance's id once")
