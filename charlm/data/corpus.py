"""Reading a corpus: files in, paragraphs of text out.

A paragraph is the unit the sentence splitter sees. In plain text, wrapped lines are joined and a
blank line ends a paragraph; in CSV, each row's text field is split the same way. Everything is
streamed, so no corpus is ever held whole in memory.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from charlm.errors import CorpusError

TEXT_SUFFIXES = (".txt", ".txt.gz", ".text", ".md")
CSV_SUFFIXES = (".csv", ".csv.gz")
DEFAULT_TEXT_COLUMNS = ("body", "text")
# A paragraph longer than this is cut at a space: a file with no line breaks must not become one
# giant string handed to the sentence splitter.
MAX_PARAGRAPH_CHARS = 200_000
READ_CHUNK_CHARS = 1 << 16
BINARY_PROBE_BYTES = 8192


@dataclass
class CorpusStats:
    """What reading found, for the report and the error messages."""

    paragraphs: int = 0
    characters: int = 0
    replaced_characters: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CorpusStats:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def corpus_files(path: str | Path) -> list[Path]:
    """The files a corpus path stands for: the file itself, or a directory's text files."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}; check the path")
    if path.is_dir():
        found = sorted(
            p for p in path.rglob("*")
            if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES) and not p.name.startswith(".")
        )
        if not found:
            raise CorpusError(f"no text files in directory {path}: it needs .txt or .txt.gz files")
        return found
    return [path]


def fingerprint(path: str | Path) -> str:
    """A digest of the corpus content (every file's bytes and relative name)."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in corpus_files(root):
        digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(CSV_SUFFIXES)


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
    except (OSError, EOFError) as error:
        raise CorpusError(f"cannot read {path}: {error}") from None
    if b"\x00" in head:
        raise CorpusError(f"{path} looks like a binary file, not text: give a UTF-8 text, .gz or "
                          "CSV file")


def _text_stream(path: Path) -> IO[str]:
    return io.TextIOWrapper(_open_bytes(path), encoding="utf-8", errors="replace", newline="")


def _chunks(text: str, limit: int) -> Iterator[str]:
    """Cut an over-long paragraph at spaces into pieces of at most about `limit` characters."""
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        if cut <= 0:
            cut = limit
        yield text[:cut]
        text = text[cut:].lstrip()
    if text:
        yield text


def paragraphs_from_lines(lines: Iterator[str]) -> Iterator[str]:
    """Join wrapped lines into paragraphs; a blank line ends a paragraph."""
    parts: list[str] = []
    size = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if parts:
                yield " ".join(parts)
                parts, size = [], 0
            continue
        parts.append(stripped)
        size += len(stripped) + 1
        if size > MAX_PARAGRAPH_CHARS:
            joined = " ".join(parts)
            pieces = list(_chunks(joined, MAX_PARAGRAPH_CHARS))
            yield from pieces[:-1]
            parts, size = [pieces[-1]], len(pieces[-1])
    if parts:
        yield " ".join(parts)


def _bounded_lines(stream: IO[str]) -> Iterator[str]:
    """Lines of a text stream, with any line longer than the read chunk split into pieces."""
    while True:
        line = stream.readline(READ_CHUNK_CHARS)
        if not line:
            return
        yield line


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


def _csv_cells(path: Path, text_column: str | None) -> Iterator[str]:
    """The text field of every row of a CSV file."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with _text_stream(path) as stream:
        reader = csv.reader(stream)
        try:
            header = next(reader)
        except StopIteration:
            return
        column = choose_text_column(header, text_column, path)
        for row in reader:
            if column < len(row):
                yield row[column]


def _csv_paragraphs(path: Path, text_column: str | None) -> Iterator[str]:
    for cell in _csv_cells(path, text_column):
        yield from paragraphs_from_lines(iter(cell.splitlines()))


def _text_paragraphs(path: Path) -> Iterator[str]:
    with _text_stream(path) as stream:
        yield from paragraphs_from_lines(_bounded_lines(stream))


def _text_lines(path: Path) -> Iterator[str]:
    with _text_stream(path) as stream:
        for line in stream:
            yield line.rstrip("\r\n")


def _checked_files(path: str | Path, text_column: str | None) -> list[Path]:
    files = corpus_files(path)
    if text_column is not None and not any(is_csv(f) for f in files):
        raise CorpusError("--text-column applies only to CSV files (.csv); drop it for text files")
    return files


def read_lines(path: str | Path, text_column: str | None = None) -> Iterator[str]:
    """Every line of a corpus, in order, without its line ending; in a CSV file each row's text
    field is one line (its own line breaks become spaces)."""
    for file in _checked_files(path, text_column):
        _check_not_binary(file)
        if is_csv(file):
            reader = (" ".join(cell.splitlines()) for cell in _csv_cells(file, text_column))
        else:
            reader = _text_lines(file)
        try:
            yield from reader
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise CorpusError(f"cannot read {file}: {error}") from None
        except csv.Error as error:
            raise CorpusError(f"{file} is not valid CSV: {error}") from None


def read_paragraphs(
    path: str | Path, text_column: str | None = None, stats: CorpusStats | None = None
) -> Iterator[str]:
    """Every paragraph of a corpus, in order; `stats` (if given) is filled in as reading goes."""
    stats = stats if stats is not None else CorpusStats()
    for file in _checked_files(path, text_column):
        _check_not_binary(file)
        reader = _csv_paragraphs(file, text_column) if is_csv(file) else _text_paragraphs(file)
        try:
            for paragraph in reader:
                stats.paragraphs += 1
                stats.characters += len(paragraph)
                stats.replaced_characters += paragraph.count("\ufffd")
                yield paragraph
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise CorpusError(f"cannot read {file}: {error}") from None
        except csv.Error as error:
            raise CorpusError(f"{file} is not valid CSV: {error}") from None


def file_size(path: str | Path) -> int:
    return sum(os.path.getsize(f) for f in corpus_files(path))
