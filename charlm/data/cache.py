"""A cache of prepared corpora, so a corpus is read and tokenized once, not on every run.

An entry is keyed by a digest of the corpus content and of every setting that changes the prepared
result (tokenizer settings, the split the text is read with, vocabulary size or the words of the
word list, CSV column, whether NLTK's punkt_tab is installed, the NLTK version and charlm's prepare
version), so a changed file or setting never reuses a stale entry. An entry is a directory of .npy
arrays and one JSON file: loaded with numpy (no pickle) and JSON, never by unpickling. It is
written to a temporary directory and renamed into place, so a crash or a concurrent run never
leaves a half-written entry.

`cache_entries` finds what charlm stored in a directory, and `clear_cache` removes that and
nothing else the directory holds (`charlm cache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from charlm.data.corpus import fingerprint
from charlm.data.layout import choose_split
from charlm.data.prepare import PREPARE_VERSION, PreparedCorpus, prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.tokenizer import punkt_tab_installed
from charlm.data.types import EncodedSentences
from charlm.data.word_list import read_word_list

CACHE_ENV = "CHARLM_CACHE_DIR"
META_FILE = "meta.json"
IDS_FILE = "ids.npy"
OFFSETS_FILE = "offsets.npy"
DOCUMENTS_FILE = "documents.npy"
ENTRY_FILES = frozenset({META_FILE, IDS_FILE, OFFSETS_FILE, DOCUMENTS_FILE})
KEY_CHARS = 32  # hexadecimal digits of an entry's name
STAGING = ".tmp-"  # an entry being written is staged in .<name>.tmp-<random>
ENTRY_NAME = re.compile(rf"[0-9a-f]{{{KEY_CHARS}}}")
STAGED_NAME = re.compile(rf"\.[0-9a-f]{{{KEY_CHARS}}}{re.escape(STAGING)}[A-Za-z0-9_]+")


def default_cache_dir() -> Path:
    """$CHARLM_CACHE_DIR, else the user cache directory of the platform: $XDG_CACHE_HOME/charlm
    or ~/.cache/charlm on Linux, ~/Library/Caches/charlm on macOS, %LOCALAPPDATA%\\charlm\\Cache
    on Windows."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(platformdirs.user_cache_dir("charlm", appauthor=False))


@dataclass(frozen=True)
class CacheEntry:
    """One thing charlm stored in a cache directory: a prepared corpus, or one a run was
    storing when it stopped (`complete` False)."""

    path: Path
    size: int
    """Bytes of its files."""
    modified: float
    """When it was written (seconds since the epoch)."""
    complete: bool
    vocabulary: int | None = None
    """Words in the prepared corpus's vocabulary (None: unreadable or incomplete)."""
    tokens: int | None = None
    """Tokens of its text."""


def _entry(path: Path) -> CacheEntry | None:
    """`path` as an entry charlm stored: a directory named as one, holding only an entry's files
    (a complete one, its metadata at least)."""
    complete = ENTRY_NAME.fullmatch(path.name) is not None
    if not (complete or STAGED_NAME.fullmatch(path.name)):
        return None
    if path.is_symlink() or not path.is_dir():
        return None
    files = {f.name: f for f in path.iterdir()}
    if not set(files) <= ENTRY_FILES or (complete and META_FILE not in files):
        return None
    if any(f.is_symlink() or not f.is_file() for f in files.values()):
        return None
    stats = [f.stat() for f in files.values()]
    entry = CacheEntry(path, sum(s.st_size for s in stats),
                       max((s.st_mtime for s in stats), default=path.stat().st_mtime), complete)
    try:
        counts = json.loads((path / META_FILE).read_text(encoding="utf-8"))["vocabulary_stats"]
        return replace(entry, vocabulary=int(counts["size"]), tokens=int(counts["tokens"]))
    except (OSError, ValueError, KeyError, TypeError):
        return entry


def cache_entries(directory: Path) -> list[CacheEntry]:
    """What charlm stored in `directory`, oldest first; none when it does not exist."""
    if not directory.is_dir():
        return []
    found = [_entry(path) for path in directory.iterdir()]
    return sorted((e for e in found if e is not None), key=lambda e: (e.modified, e.path.name))


def clear_cache(directory: Path) -> list[CacheEntry]:
    """Remove what charlm stored in `directory`, and nothing else it holds; returns what was
    removed."""
    removed = cache_entries(directory)
    for entry in removed:
        shutil.rmtree(entry.path)
    return removed


def cache_key(path: str | Path, settings: PrepareSettings, digest: str | None = None) -> str:
    """The entry name for a corpus (`digest`: its fingerprint, if known) and the settings that
    shape its preparation."""
    import nltk

    document = {
        "corpus": digest or fingerprint(path),
        "settings": settings_document(settings),
        "punkt_tab_installed": punkt_tab_installed(),
        "nltk": nltk.__version__,
        "prepare_version": PREPARE_VERSION,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:KEY_CHARS]


def settings_document(settings: PrepareSettings) -> dict[str, Any]:
    """The settings as a key holds them: a word list by a digest of its words, so an edited list
    never reuses an entry and a moved one still does; no list by nothing, so entries stored
    before word lists keep their keys."""
    document = settings.to_dict()
    word_list = document.pop("vocabulary")
    if word_list is not None:
        document["vocabulary"] = read_word_list(word_list).digest
    return document


def load_entry(directory: Path) -> PreparedCorpus | None:
    """The prepared corpus stored in `directory`, or None when it is missing or unreadable."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        # Memory-mapped: a large corpus loads at once and pages in as batches touch it.
        ids = np.load(directory / IDS_FILE, mmap_mode="r", allow_pickle=False)
        offsets = np.load(directory / OFFSETS_FILE, mmap_mode="r", allow_pickle=False)
        documents = np.load(directory / DOCUMENTS_FILE, allow_pickle=False)
        if (meta.get("prepare_version") != PREPARE_VERSION or int(offsets[-1]) != len(ids)
                or int(documents[-1]) != len(offsets) - 1):
            return None
        return PreparedCorpus.from_metadata(meta, EncodedSentences(ids, offsets, documents))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def save_entry(directory: Path, corpus: PreparedCorpus) -> None:
    """Write an entry atomically: staged in a temporary directory, then renamed into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{directory.name}{STAGING}", dir=directory.parent))
    try:
        np.save(staged / IDS_FILE, np.ascontiguousarray(corpus.sentences.ids))
        np.save(staged / OFFSETS_FILE, np.ascontiguousarray(corpus.sentences.offsets))
        np.save(staged / DOCUMENTS_FILE, np.ascontiguousarray(corpus.sentences.documents))
        (staged / META_FILE).write_text(json.dumps(corpus.metadata()), encoding="utf-8")
        try:
            os.rename(staged, directory)
        except OSError:
            # Another run stored the same entry first; theirs is as good as ours.
            if not (directory / META_FILE).exists():
                raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def cached_prepare(
    path: str,
    settings: PrepareSettings,
    *,
    workers: int = 0,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    digest: str | None = None,
    on_store_failed: Callable[[str], None] | None = None,
) -> tuple[PreparedCorpus, bool]:
    """The prepared corpus, from the cache when an entry matches; and whether it came from there.

    The split `auto` is resolved first, so the key holds the split the text is read with. A cache
    that cannot be written (read-only disk, full disk) only costs the next run time:
    `on_store_failed` is told why, in a sentence, and the corpus is returned all the same.
    """
    if not use_cache:
        return prepare_corpus(path, settings, workers), False
    choice = choose_split(path, settings.split, settings.text_column)
    settings = replace(settings, split=choice.mode)
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    entry = directory / cache_key(path, settings, digest)
    corpus = load_entry(entry)
    if corpus is not None:
        return replace(corpus, split_choice=choice), True
    corpus = replace(prepare_corpus(path, settings, workers), split_choice=choice)
    try:
        save_entry(entry, corpus)
    except OSError as error:
        if on_store_failed is not None:
            on_store_failed(f"could not store the prepared corpus in the cache {directory} "
                            f"({error.strerror or error}); training goes on, and the next run "
                            "prepares it again (set --cache-dir, or --no-cache)")
    return corpus, False
