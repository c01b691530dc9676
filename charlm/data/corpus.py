"""Reading a corpus: files in, units of text out.

A unit (a paragraph, by default) is what the sentence splitter sees. How text is cut into units is
the split setting: `paragraphs` joins wrapped lines and ends a paragraph at a blank line; `lines`
and `one-per-line` take every line as a unit of its own (`one-per-line` then takes each unit as
exactly one sentence). In CSV, each row's text field is cut the same way, and no unit runs across
rows. Everything is streamed, so no corpus is ever held whole in memory.

A document is a file, or a CSV row: running text, whose sentences follow one another. Readers
that keep documents apart (`read_paragraphs(..., breaks=True)`) yield DOCUMENT_BREAK after each.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import sys
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from charlm.errors import CorpusError
from charlm.paths import DIRECTORY, FILE, cannot_read, check_input, what_is

TEXT_SUFFIXES = (".txt", ".txt.gz", ".text", ".md")
CSV_SUFFIXES = (".csv", ".csv.gz")
DEFAULT_TEXT_COLUMNS = ("body", "text")
# A paragraph longer than this is cut at a space: a file with no line breaks must not become one
# giant string handed to the sentence splitter.
MAX_PARAGRAPH_CHARS = 200_000
READ_CHUNK_CHARS = 1 << 16
BINARY_PROBE_BYTES = 8192
# UTF-8, without the byte-order mark that spreadsheet programs and some editors write first: it
# is no text (it would glue itself to the first word, or to a CSV file's first column name).
TEXT_ENCODING = "utf-8-sig"
LINE_BREAKS = ("\n", "\r")
# Every character str.splitlines ends a line at: text given as a string (a prompt) is cut into
# lines there, and each such line is a line of its paragraph.
LINE_BOUNDARIES = (*LINE_BREAKS, "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
WHITESPACE = re.compile(r"\s")
# A Unicode noncharacter, never meant to appear in text: marks the end of a CSV file.
CSV_END_SENTINEL = "\uffff"
# A unit that is never text (every unit holds some): where a document ends.
DOCUMENT_BREAK = ""
# Sampling a directory for the split choice: at least this many lines of each file read.
SAMPLE_MIN_LINES_PER_FILE = 200
# What reading a file can fail with: the system's errors, and a .gz file's that is truncated
# (EOFError), has a bad header or checksum (gzip.BadGzipFile, an OSError) or is damaged inside
# its compressed stream (zlib.error).
READ_ERRORS = (OSError, EOFError, zlib.error)

PARAGRAPHS = "paragraphs"
LINES = "lines"
ONE_PER_LINE = "one-per-line"
AUTO = "auto"
SPLIT_MODES = (PARAGRAPHS, LINES, ONE_PER_LINE)
SPLIT_CHOICES = (AUTO, *SPLIT_MODES)


@dataclass
class CorpusStats:
    """What reading found, for the report and the error messages."""

    paragraphs: int = 0
    characters: int = 0
    replaced_characters: int = 0
    unclosed_quotes: list[list[Any]] = field(default_factory=list)
    """[file, line] of each CSV row whose quoted field never closes."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CorpusStats:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    def warnings(self) -> list[str]:
        """What reading found wrong, one line each."""
        found = [f"{file}: the quoted field that opens in the row starting at line {line:,} is "
                 "never closed, so the rest of the file was read into that field; close its "
                 'quote (")' for file, line in self.unclosed_quotes]
        if self.replaced_characters:
            found.append(f"{self.replaced_characters:,} invalid UTF-8 byte sequences were "
                         "replaced by U+FFFD")
        return found


def corpus_files(path: str | Path) -> list[Path]:
    """The files a corpus path stands for: the file itself, or a directory's text files. A
    named pipe or a device is refused before it is opened, given itself or found among a
    directory's text files (which it would be taken for)."""
    path = Path(path)
    check_input(path, "corpus", CorpusError, directories=True)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}; check the path")
    if path.is_dir():
        found = sorted(p for p in path.rglob("*")
                       if p.name.lower().endswith(TEXT_SUFFIXES) and not p.name.startswith(".")
                       and _member(p))
        if not found:
            raise CorpusError(f"no text files in directory {path}: it needs .txt or .txt.gz files")
        return found
    return [path]


def _member(path: Path) -> bool:
    """Whether a text file's name in a corpus directory is one to read: a regular file (a
    directory so named is searched, not read; a named pipe or a device is refused)."""
    kind = what_is(path)
    if kind in (None, FILE, DIRECTORY):
        return kind == FILE  # None: a broken link
    raise CorpusError(f"{path}, in the corpus directory, is {kind}, not a text file: remove it "
                      "from the directory or give the text files one by one")


def corpus_members(path: str | Path) -> list[Path]:
    """The files of a corpus that exists (see corpus_files); none when it is missing, which
    reading it reports."""
    return corpus_files(path) if Path(path).exists() else []


def fingerprint(path: str | Path) -> str:
    """A digest of the corpus content: a file's bytes, or each file of a directory with its name
    relative to the directory. The corpus's own path and name never count, so a renamed or moved
    corpus is recognised."""
    root = Path(path)
    files = corpus_files(root)
    if not root.is_dir():
        return _digest([(None, root)])
    return _digest([(str(file.relative_to(root)), file) for file in files])


def legacy_fingerprint(path: str | Path, name: str) -> str:
    """The digest charlm 0.1.0 recorded for a corpus: a single file's digest began with its file
    name (`name`, the name it had then), so checkpoints of that version still resume."""
    root = Path(path)
    if root.is_dir():
        return fingerprint(root)
    corpus_files(root)
    return _digest([(name, root)])


def _digest(files: list[tuple[str | None, Path]]) -> str:
    digest = hashlib.sha256()
    for label, file in files:
        if label is not None:
            digest.update(label.encode())
        try:
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as error:
            raise CorpusError(cannot_read(file, error)) from None
    return digest.hexdigest()


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(CSV_SUFFIXES)


def column_for(path: str | Path, text_column: str | None) -> str | None:
    """--text-column applies to the CSV files among several; text files ignore it."""
    return text_column if is_csv(Path(path)) else None


def _open_bytes(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _check_not_binary(path: Path) -> None:
    try:
        with _open_bytes(path) as handle:
            head = handle.read(BINARY_PROBE_BYTES)
    except READ_ERRORS as error:
        raise CorpusError(cannot_read(path, error)) from None
    if b"\x00" in head:
        raise CorpusError(f"{path} looks like a binary file, not text: give a UTF-8 text, .gz or "
                          "CSV file")


def _text_stream(path: Path) -> IO[str]:
    return io.TextIOWrapper(_open_bytes(path), encoding=TEXT_ENCODING, errors="replace",
                            newline="")


def _cut_at(text: str, limit: int) -> int:
    """Where to cut a text longer than `limit`: at its last whitespace before `limit`, so no
    word is split (only a word of `limit` characters or more is)."""
    reversed_head = text[limit - 1 : 0 : -1]
    found = WHITESPACE.search(reversed_head)
    return limit if found is None else limit - 1 - found.start()


def _cut_while_long(text: str, limit: int) -> Generator[str, None, str]:
    """Cut pieces off the front of `text`, at whitespace, while it is longer than `limit`;
    yields each that is not blank, stripped, and returns the rest as it is (text read after
    it joins it as the file spells it: stripping the rest would glue two words there)."""
    while len(text) > limit:
        cut = _cut_at(text, limit)
        piece = text[:cut].strip()
        if piece:
            yield piece
        text = text[cut:]
    return text


def _chunks(text: str, limit: int) -> Iterator[str]:
    """Cut a unit at whitespace into pieces of at most `limit` characters, stripped; a blank
    one gives none."""
    rest = yield from _cut_while_long(text, limit)
    if rest.strip():
        yield rest.strip()


def paragraphs_from_lines(lines: Iterable[str]) -> Iterator[str]:
    """Join wrapped lines into paragraphs, each line stripped and a space between two; a blank
    line ends a paragraph. A line longer than the read chunk comes in pieces, only the last of
    which ends with a line break: they join as they are."""
    parts: list[str] = []
    size = 0
    line_has_text = False
    for piece in lines:
        ends_line = piece.endswith(LINE_BOUNDARIES)
        if line_has_text:
            text = piece.rstrip() if ends_line else piece
        else:
            text = piece.strip() if ends_line else piece.lstrip()
        if text:
            if parts and not line_has_text:
                parts.append(" ")
            parts.append(text)
            size += len(text) + 1
            line_has_text = True
        if size > MAX_PARAGRAPH_CHARS:
            rest = yield from _cut_while_long("".join(parts), MAX_PARAGRAPH_CHARS)
            parts, size = [rest], len(rest)
        if ends_line and not line_has_text:
            yield from _chunks("".join(parts), MAX_PARAGRAPH_CHARS)
            parts, size = [], 0
        line_has_text = line_has_text and not ends_line
    yield from _chunks("".join(parts), MAX_PARAGRAPH_CHARS)


def lines_as_units(pieces: Iterable[str]) -> Iterator[str]:
    """Every non-blank line as a unit of its own. `pieces` are lines, except that a line longer
    than the read chunk comes in pieces, only the last of which ends with a line break."""
    line = ""
    for piece in pieces:
        line = yield from _cut_while_long(line + piece, MAX_PARAGRAPH_CHARS)
        if piece.endswith(LINE_BREAKS):
            yield from _chunks(line, MAX_PARAGRAPH_CHARS)
            line = ""
    yield from _chunks(line, MAX_PARAGRAPH_CHARS)


def units_from_lines(lines: Iterable[str], split: str) -> Iterator[str]:
    """The units the sentence splitter sees, cut from lines as `split` says."""
    if split == PARAGRAPHS:
        return paragraphs_from_lines(lines)
    if split in (LINES, ONE_PER_LINE):
        return lines_as_units(lines)
    raise ValueError(f"unknown split {split!r}")


def _bounded_lines(stream: IO[str]) -> Iterator[str]:
    """Lines of a text stream, with any line longer than the read chunk split into pieces."""
    cut_after_return = False
    while True:
        line = stream.readline(READ_CHUNK_CHARS)
        if not line:
            return
        if not (cut_after_return and line == "\n"):  # the rest of a \r\n that a read cut
            yield line
        cut_after_return = len(line) == READ_CHUNK_CHARS and line.endswith("\r")


def choose_text_column(header: list[str], wanted: str | None, path: Path) -> int:
    names = [name.strip() for name in header]
    if wanted is not None:
        if wanted in names:
            return names.index(wanted)
        raise CorpusError(f"{path} has no column {wanted!r}; its columns are: {', '.join(names)}. "
                          "Pass --text-column with one of them")
    lowered = [name.lower() for name in names]
    for candidate in DEFAULT_TEXT_COLUMNS:
        if candidate in lowered:
            return lowered.index(candidate)
    return 0


class _CountedLines:
    """A CSV file's lines for the csv reader, counted, then one sentinel line.

    The count says on which line a row began. The sentinel shows where the file ended: read as a
    row of its own when every quoted field was closed, or at the tail of the last field when a
    quote opened and never closed (the csv reader then reads to the end of the file silently).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.lines_read = 0
        self._lines = self._generate(stream)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._lines)

    def _generate(self, stream: IO[str]) -> Iterator[str]:
        last = "\n"
        for line in stream:
            self.lines_read += 1
            last = line
            yield line
        if not last.endswith(LINE_BREAKS):
            yield "\n"
        yield CSV_END_SENTINEL


def _csv_fields(path: Path, text_column: str | None, stats: CorpusStats) -> Iterator[str]:
    """The text field of every row of a CSV file; a quoted field that never closes is recorded
    in `stats` with the line its row began on."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with _text_stream(path) as stream:
        source = _CountedLines(stream)
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None or header == [CSV_END_SENTINEL]:
            return
        column = choose_text_column(header, text_column, path)
        while True:
            first_line = source.lines_read + 1
            row = next(reader, None)
            if row is None:
                return
            if row and row[-1].rstrip("\r\n").endswith(CSV_END_SENTINEL):
                if row == [CSV_END_SENTINEL]:
                    return
                stats.unclosed_quotes.append([str(path), first_line])
                row[-1] = row[-1].rstrip("\r\n")[: -len(CSV_END_SENTINEL)]
            if column < len(row):
                yield row[column]


def _documents(path: Path, text_column: str | None, stats: CorpusStats) -> Iterator[Iterable[str]]:
    """A file's documents, each as its lines: a text file is one (long lines in bounded pieces);
    in CSV, each row's text field is one. Each is read to its end before the next is asked for."""
    if is_csv(path):
        for field_text in _csv_fields(path, text_column, stats):
            yield [line + "\n" for line in field_text.splitlines()]
        return
    with _text_stream(path) as stream:
        yield _bounded_lines(stream)


def _file_lines(path: Path, text_column: str | None, stats: CorpusStats) -> Iterator[str]:
    """A file's lines (a CSV file's: its text fields' lines, each field followed by a blank
    line, so no paragraph runs across rows)."""
    for lines in _documents(path, text_column, stats):
        yield from lines
        if is_csv(path):
            yield "\n"


def _file_units(path: Path, text_column: str | None, stats: CorpusStats, split: str
                ) -> Iterator[str]:
    """A file's units, DOCUMENT_BREAK after each document."""
    for lines in _documents(path, text_column, stats):
        yield from units_from_lines(lines, split)
        yield DOCUMENT_BREAK


def stdin_lines() -> Iterator[str]:
    """Standard input's lines, decoded as the corpus reader decodes files."""
    binary = getattr(sys.stdin, "buffer", None)
    if binary is None:
        yield from sys.stdin
        return
    stream = io.TextIOWrapper(binary, encoding=TEXT_ENCODING, errors="replace", newline="")
    try:
        yield from stream
    finally:
        stream.detach()  # closing the wrapper would close standard input itself


def _text_lines(path: Path) -> Iterator[str]:
    with _text_stream(path) as stream:
        for line in stream:
            yield line.rstrip("\r\n")


def read_lines(path: str | Path, text_column: str | None = None,
               stats: CorpusStats | None = None) -> Iterator[str]:
    """Every line of a corpus, in order, without its line ending; in a CSV file each row's text
    field is one line (its own line breaks become spaces)."""
    for file in _checked_files(path, text_column):
        _check_not_binary(file)
        if is_csv(file):
            reader = (" ".join(cell.splitlines())
                      for cell in _csv_fields(file, text_column, stats or CorpusStats()))
        else:
            reader = _text_lines(file)
        yield from _read_errors_as_corpus_errors(file, reader)


def _checked_files(path: str | Path, text_column: str | None) -> list[Path]:
    files = corpus_files(path)
    if text_column is not None and not any(is_csv(f) for f in files):
        raise CorpusError("--text-column applies only to CSV files (.csv); drop it for text files")
    return files


def _read_errors_as_corpus_errors(file: Path, lines: Iterator[str]) -> Iterator[str]:
    try:
        yield from lines
    except READ_ERRORS as error:
        raise CorpusError(cannot_read(file, error)) from None
    except csv.Error as error:
        raise CorpusError(f"{file} is not valid CSV: {error}") from None


def read_paragraphs(
    path: str | Path,
    text_column: str | None = None,
    stats: CorpusStats | None = None,
    split: str = PARAGRAPHS,
    breaks: bool = False,
) -> Iterator[str]:
    """Every unit of a corpus that the sentence splitter sees, in order: paragraphs, or lines
    (`split`); with `breaks`, DOCUMENT_BREAK after each document (a file, a CSV row). `stats`
    (if given) is filled in as reading goes."""
    stats = stats if stats is not None else CorpusStats()
    for file in _checked_files(path, text_column):
        _check_not_binary(file)
        units = _read_errors_as_corpus_errors(file, _file_units(file, text_column, stats, split))
        for unit in units:
            if unit == DOCUMENT_BREAK:
                if breaks:
                    yield unit
                continue
            stats.paragraphs += 1
            stats.characters += len(unit)
            stats.replaced_characters += unit.count("\ufffd")
            yield unit


def sample_lines(path: str | Path, text_column: str | None, max_lines: int, max_chars: int
                 ) -> list[str]:
    """Lines from the start of a corpus (of each of its files, sharing the budget), stripped;
    a blank line stands wherever a paragraph or CSV field ends."""
    files = _checked_files(path, text_column)
    per_file = max(max_lines // len(files), min(max_lines, SAMPLE_MIN_LINES_PER_FILE))
    sample: list[str] = []
    chars = 0
    for file in files:
        _check_not_binary(file)
        taken = 0
        lines = _read_errors_as_corpus_errors(file, _file_lines(file, text_column, CorpusStats()))
        for line in lines:
            sample.append(line.strip())
            chars += len(line)
            taken += 1
            if taken >= per_file or len(sample) >= max_lines or chars >= max_chars:
                break
        sample.append("")
        if len(sample) >= max_lines or chars >= max_chars:
            break
    return sample


def file_size(path: str | Path) -> int:
    return sum(os.path.getsize(f) for f in corpus_files(path))
