"""`charlm cache`: where prepared corpora are cached and what the cache holds, or clear it.

Clearing removes only what charlm stored there (data/cache.py knows its entries), never anything
else in the directory, which may be one the user chose (--cache-dir, CHARLM_CACHE_DIR).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from charlm.errors import CharlmError
from charlm.options import option
from charlm.training.config import CACHE_DIR_HELP

if TYPE_CHECKING:
    from charlm.data.cache import CacheEntry

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


@dataclass
class CacheConfig:
    """Settings of `charlm cache`."""

    COMMAND = "cache"

    clear: bool = option(
        False, "Remove the prepared corpora charlm stored there, and nothing else in the directory."
    )
    cache_dir: str | None = option(None, CACHE_DIR_HELP, shared=True)
    json: bool = option(False, "Print one JSON object instead of the table.")

    @property
    def directory(self) -> Path:
        from charlm.data.cache import default_cache_dir

        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()


def size_text(size: float) -> str:
    """Bytes as a person reads them: 812 B, 3.4 MiB."""
    unit = 0
    while size >= 1024 and unit < len(UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{size:.0f} {UNITS[unit]}" if unit == 0 else f"{size:.1f} {UNITS[unit]}"


def entry_record(entry: CacheEntry) -> dict[str, Any]:
    """An entry as `--json` prints it."""
    return {"name": entry.path.name, "bytes": entry.size,
            "modified": datetime.fromtimestamp(entry.modified).isoformat(timespec="seconds"),
            "complete": entry.complete, "vocabulary": entry.vocabulary, "tokens": entry.tokens}


def entry_line(entry: CacheEntry) -> str:
    when = datetime.fromtimestamp(entry.modified).strftime("%Y-%m-%d %H:%M")
    what = (f"{entry.vocabulary:,} words, {entry.tokens:,} tokens"
            if entry.vocabulary is not None and entry.tokens is not None
            else "left by a run that stopped while storing it" if not entry.complete
            else "unreadable")
    return f"  {when}  {size_text(entry.size):>10}  {what}"


def summary(entries: list[CacheEntry]) -> str:
    count = len(entries)
    return (f"{count} prepared {'corpus' if count == 1 else 'corpora'}, "
            f"{size_text(sum(e.size for e in entries))}")


def show_cache(config: CacheConfig) -> list[CacheEntry]:
    """Run `charlm cache`: print the directory and its entries, or clear them; returns the
    entries listed or removed."""
    from charlm.data.cache import cache_entries, clear_cache

    directory = config.directory
    try:
        entries = clear_cache(directory) if config.clear else cache_entries(directory)
    except OSError as error:
        raise CharlmError(f"could not {'clear' if config.clear else 'read'} the cache "
                          f"{directory}: {error.strerror or error}") from None
    if config.json:
        typer.echo(json.dumps({"directory": str(directory), "cleared": config.clear,
                               "bytes": sum(e.size for e in entries),
                               "entries": [entry_record(e) for e in entries]}))
    elif config.clear:
        typer.echo(f"removed {summary(entries)} from {directory}")
    else:
        typer.echo(f"{directory}: {summary(entries)}" + (
            "" if directory.is_dir() else " (the directory does not exist yet)"))
        for entry in entries:
            typer.echo(entry_line(entry))
    return entries
