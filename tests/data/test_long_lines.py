"""A line longer than the reader takes at once (READ_CHUNK_CHARS) or than a unit may be
(MAX_PARAGRAPH_CHARS) is read in bounded pieces, and gives the same words as the same text in
short lines: no word is split where a read ends, no two words are glued where a unit is cut,
and a run of whitespace is only whitespace."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from charlm.data.corpus import (
    LINES,
    MAX_PARAGRAPH_CHARS,
    PARAGRAPHS,
    READ_CHUNK_CHARS,
    read_paragraphs,
)

LONG = 3 * MAX_PARAGRAPH_CHARS // 2  # characters of a long line: over a unit, several reads


def numbered_words(width: int, separator: str = " ") -> str:
    """A long line of numbered words, each `width` characters and a separator."""
    count = LONG // (width + len(separator))
    return separator.join(f"w{i:0{width - 1}d}" for i in range(count))


def spaced_run() -> str:
    """A line that begins with a run of whitespace longer than a unit."""
    return " " * (2 * MAX_PARAGRAPH_CHARS) + "words after it"


LONG_LINES = {
    # a space ends the fourth read, where the line was stripped then joined to the next read
    "a space at the end of a read": numbered_words(7),
    # a word runs across the first read's end
    "a word across a read boundary": numbered_words(9),
    # a unit's end, where no space is found, falls inside a word
    "words separated by tabs": numbered_words(8, "\t"),
    "a run of whitespace longer than a unit": spaced_run(),
}


def words_read(path: Path, split: str) -> list[str]:
    return [word for unit in read_paragraphs(path, split=split) for word in unit.split()]


@pytest.mark.parametrize("split", [PARAGRAPHS, LINES])
@pytest.mark.parametrize("case", list(LONG_LINES))
def test_a_long_line_gives_the_words_of_short_lines(tmp_path: Path, case: str, split: str
                                                    ) -> None:
    text = LONG_LINES[case]
    long_line = tmp_path / "long.txt"
    long_line.write_text(f"Before it.\n{text}\nAfter it.\n", encoding="utf-8")
    short_lines = tmp_path / "short.txt"
    wrapped = textwrap.fill(" ".join(text.split()), 60)
    short_lines.write_text(f"Before it.\n{wrapped}\nAfter it.\n", encoding="utf-8")
    expected = ["Before", "it.", *text.split(), "After", "it."]
    assert words_read(long_line, split) == expected
    assert words_read(short_lines, PARAGRAPHS) == expected
    assert all(len(unit) <= MAX_PARAGRAPH_CHARS for unit in read_paragraphs(long_line,
                                                                            split=split))


def test_the_cases_reach_the_boundaries_they_are_named_after() -> None:
    at_fourth_read_end = 4 * READ_CHUNK_CHARS - 1
    spaced = LONG_LINES["a space at the end of a read"]
    assert spaced[at_fourth_read_end] == " " and spaced[at_fourth_read_end + 1] != " "
    across = LONG_LINES["a word across a read boundary"]
    assert not across[READ_CHUNK_CHARS - 1 : READ_CHUNK_CHARS + 1].isspace()
    assert " " not in across[READ_CHUNK_CHARS - 1 : READ_CHUNK_CHARS + 1]
    tabbed = LONG_LINES["words separated by tabs"]
    assert not tabbed[MAX_PARAGRAPH_CHARS - 1 : MAX_PARAGRAPH_CHARS + 1].isspace()
    assert min(len(spaced), len(across), len(tabbed)) > MAX_PARAGRAPH_CHARS


def test_whitespace_inside_a_long_line_does_not_end_its_paragraph(tmp_path: Path) -> None:
    line = "one two" + " " * (2 * READ_CHUNK_CHARS) + "three four"
    path = tmp_path / "spaced.txt"
    path.write_text(f"{line}\nfive six\n\nseven\n", encoding="utf-8")
    assert [unit.split() for unit in read_paragraphs(path)] == [
        ["one", "two", "three", "four", "five", "six"], ["seven"]]


def test_a_line_break_cut_by_a_read_is_one_line_break(tmp_path: Path) -> None:
    first = ("word " * READ_CHUNK_CHARS)[: READ_CHUNK_CHARS - 1]  # the read ends after its \r
    path = tmp_path / "crlf.txt"
    path.write_bytes(f"{first}\r\nthe same paragraph\r\n\r\nthe next\r\n".encode())
    assert list(read_paragraphs(path)) == [f"{first.strip()} the same paragraph", "the next"]
