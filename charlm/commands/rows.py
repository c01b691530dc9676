"""Printing many rows to standard output, as `score` and `rescore` print theirs: in chunks, and
quietly when the reader stops early (`| head`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

import typer

ROWS_PER_WRITE = 1000


def write_lines(lines: Iterable[str]) -> bool:
    """Print the lines in chunks; False when the reader stopped early (| head), not an error."""
    chunk: list[str] = []
    try:
        for line in lines:
            chunk.append(line)
            if len(chunk) == ROWS_PER_WRITE:
                typer.echo("".join(chunk), nl=False)
                chunk = []
        typer.echo("".join(chunk), nl=False)
    except BrokenPipeError:
        # Later flushes must not fail either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True
