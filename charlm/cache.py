"""A cache of prepared corpora, so a corpus is read and tokenized once, not on every run.

An entry is keyed by a digest of the corpus content and of every setting that changes the prepared
result (tokenizer settings, vocabulary size, CSV column, whether NLTK's punkt_tab is installed, the
NLTK version and charlm's prepare version), so a changed file or setting never reuses a stale
entry. An entry is a directory of .npy arrays and one JSON file: loaded with numpy (no pickle) and
JSON, never by unpickling. It is written to a temporary directory and renamed into place, so a
crash or a concurrent run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from charlm.corpus import CorpusStats, fingerprint
from charlm.prepare import PREPARE_VERSION, EncodedSentences, PreparedCorpus
from charlm.tokenizer import Tokenizer, TokenizerSettings, punkt_tab_installed
from charlm.vocab import Vocabulary, VocabularyStats

CACHE_ENV = "CHARLM_CACHE_DIR"
META_FILE = "meta.json"
IDS_FILE = "ids.npy"
OFFSETS_FILE = "offsets.npy"


def default_cache_dir() -> Path:
    """$CHARLM_CACHE_DIR, else $XDG_CACHE_HOME/charlm, else ~/.cache/charlm."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "charlm"


def cache_key(path: str | Path, settings: dict[str, Any], digest: str | None = None) -> str:
    """The entry name for a corpus (`digest`: its fingerprint, if known) and the settings that
    shape its preparation."""
    import nltk

    document = {
        "corpus": digest or fingerprint(path),
        "settings": settings,
        "punkt_tab_installed": punkt_tab_installed(),
        "nltk": nltk.__version__,
        "prepare_version": PREPARE_VERSION,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]


def load_entry(directory: Path) -> PreparedCorpus | None:
    """The prepared corpus stored in `directory`, or None when it is missing or unreadable."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        # Memory-mapped: a large corpus loads at once and pages in as batches touch it.
        ids = np.load(directory / IDS_FILE, mmap_mode="r", allow_pickle=False)
        offsets = np.load(directory / OFFSETS_FILE, mmap_mode="r", allow_pickle=False)
        if meta.get("prepare_version") != PREPARE_VERSION or int(offsets[-1]) != len(ids):
            return None
        tokenizer = Tokenizer(TokenizerSettings.from_dict(meta["tokenizer"]))
        tokenizer.dropped_long = int(meta["dropped_long"])
        return PreparedCorpus(
            EncodedSentences(ids, offsets),
            Vocabulary(meta["vocabulary"]),
            VocabularyStats(**meta["vocabulary_stats"]),
            tokenizer,
            CorpusStats(**meta["corpus_stats"]),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def save_entry(directory: Path, corpus: PreparedCorpus) -> None:
    """Write an entry atomically: staged in a temporary directory, then renamed into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        np.save(staged / IDS_FILE, np.ascontiguousarray(corpus.sentences.ids))
        np.save(staged / OFFSETS_FILE, np.ascontiguousarray(corpus.sentences.offsets))
        meta = {
            "prepare_version": PREPARE_VERSION,
            "vocabulary": corpus.vocabulary.words,
            "vocabulary_stats": asdict(corpus.vocabulary_stats),
            "tokenizer": corpus.tokenizer.settings.to_dict(),
            "corpus_stats": asdict(corpus.corpus_stats),
            "dropped_long": corpus.tokenizer.dropped_long,
        }
        (staged / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
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
    *,
    vocabulary_size: int,
    lowercase: bool = True,
    drop_urls: bool = True,
    min_chars: int = 1,
    text_column: str | None = None,
    max_words: int = 0,
    workers: int = 0,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    digest: str | None = None,
) -> tuple[PreparedCorpus, bool]:
    """The prepared corpus, from the cache when an entry matches; and whether it came from there.

    A cache that cannot be written (read-only disk, full disk) only costs the next run time.
    """
    from charlm.prepare import prepare_corpus

    settings = {
        "vocabulary_size": vocabulary_size,
        "lowercase": lowercase,
        "drop_urls": drop_urls,
        "min_chars": min_chars,
        "text_column": text_column,
        "max_words": max_words,
    }
    if not use_cache:
        return prepare_corpus(path, workers=workers, **settings), False  # type: ignore[arg-type]
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    entry = directory / cache_key(path, settings, digest)
    corpus = load_entry(entry)
    if corpus is not None:
        return corpus, True
    corpus = prepare_corpus(path, workers=workers, **settings)  # type: ignore[arg-type]
    try:
        save_entry(entry, corpus)
    except OSError:
        pass
    return corpus, False
