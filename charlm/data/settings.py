"""The settings that decide how a corpus becomes training sentences, passed whole from the
command to the cache, the preparation and the tokenizer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

NLTK_WORDS = "nltk"
WHITESPACE_WORDS = "whitespace"
# How a sentence is cut into words: NLTK's word tokenizer, or whitespace alone (for text that is
# already tokenized, as WikiText and the Penn Treebank are).
WORD_SPLITS = (NLTK_WORDS, WHITESPACE_WORDS)

# The largest vocabulary, the special tokens counted, whether its size is given or every word
# is kept: a softmax over more words no longer fits a GPU's memory, and crawls on a CPU.
MAX_VOCABULARY = 1_000_000

SENTENCE = "sentence"
DOCUMENT = "document"
# What a model reads each sentence after: nothing, from a zero state (the tutorial's), or
# everything before it in its document (streams.py). Not a preparation setting: a prepared
# corpus keeps its documents either way.
CONTEXTS = (SENTENCE, DOCUMENT)
DEFAULT_CONTEXT = DOCUMENT
# How summaries and `info` say what each sentence is read after.
CONTEXT_DESCRIPTIONS = {
    SENTENCE: "sentence (each sentence read alone)",
    DOCUMENT: "document (each sentence after the text before it in its document)",
}


@dataclass(frozen=True)
class PrepareSettings:
    """Every setting that changes a prepared corpus; the cache key includes all of them."""

    vocabulary_size: int = 2000
    """Words kept, counting UNKNOWN_TOKEN, SENTENCE_START and SENTENCE_END (0: every word)."""
    vocabulary: str | None = None
    """A word list whose words are the vocabulary (word_list.py), in place of the
    `vocabulary_size` most frequent: the cache key holds its words, not its path."""
    lowercase: bool = True
    """Lowercase the text before splitting it."""
    drop_urls: bool = True
    """Drop sentences that contain a URL."""
    min_chars: int = 1
    """Drop sentences shorter than this many characters."""
    text_column: str | None = None
    """The CSV column holding the text (None: body, else text, else the first)."""
    max_words: int = 0
    """Drop sentences with more words than this (0: no limit)."""
    split: str = "auto"
    """How text is cut before sentence splitting: auto, paragraphs, lines or one-per-line."""
    words: str = NLTK_WORDS
    """How a sentence is cut into words: nltk or whitespace."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
