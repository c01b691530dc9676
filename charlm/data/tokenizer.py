"""Paragraphs to sentences to words, with NLTK, offline.

Sentences are split by NLTK's Punkt: the English punkt_tab model when NLTK has it installed, else a
Punkt model trained on (a bounded sample of) the corpus itself. Words come from NLTK's word
tokenizer, applied per sentence. The settings, the trained Punkt parameters included, travel in the
checkpoint so every later command tokenizes exactly as training did. Nothing is ever downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

from charlm.data.settings import PrepareSettings
from charlm.data.word_tokenizer import FastWordTokenizer

PUNKT_TAB_ENGLISH = "punkt_tab/english"
PUNKT_TRAINED = "punkt/trained-on-corpus"
# Punkt learns abbreviations and sentence starters from a sample; beyond a few MB it learns little
# more and costs seconds: on Austen 800k characters split as 1.5M did (33,290 sentences against
# 33,275, "Mr. Bennet replied" kept whole) in half the time.
PUNKT_SAMPLE_CHARS = 800_000
# Tokens such as <unk> or <eos> in an already-tokenized corpus stay whole.
SPECIAL_TOKEN = re.compile(r"(<[^\s<>]{1,40}>)")
URL = re.compile(r"https?://|\bwww\.\S", re.IGNORECASE)


def punkt_tab_installed() -> bool:
    import nltk.data

    try:
        nltk.data.find(f"tokenizers/{PUNKT_TAB_ENGLISH}/")
    except LookupError:
        return False
    return True


def train_punkt(texts: Iterable[str], sample_chars: int = PUNKT_SAMPLE_CHARS) -> PunktParameters:
    """Punkt parameters learnt from the first `sample_chars` characters of `texts`."""
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = False
    sample: list[str] = []
    size = 0
    for text in texts:
        sample.append(text)
        size += len(text) + 2
        if size >= sample_chars:
            break
    trainer.train("\n\n".join(sample), finalize=False)
    trainer.finalize_training()
    return trainer.get_params()


def punkt_to_dict(params: PunktParameters) -> dict[str, Any]:
    """Punkt parameters as plain, sorted Python values (checkpoint-safe and deterministic)."""
    return {
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted([a, b] for a, b in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": sorted([word, flags] for word, flags in params.ortho_context.items()),
    }


def punkt_from_dict(values: dict[str, Any]) -> PunktParameters:
    params = PunktParameters()
    params.abbrev_types = set(values["abbrev_types"])
    params.collocations = {(a, b) for a, b in values["collocations"]}
    params.sent_starters = set(values["sent_starters"])
    for word, flags in values["ortho_context"]:
        params.ortho_context[word] = flags
    return params


@dataclass
class TokenizerSettings:
    """How text becomes sentences of words; stored in the checkpoint."""

    lowercase: bool = True
    drop_urls: bool = True
    min_chars: int = 1
    max_words: int = 0  # longer sentences are dropped; 0 (checkpoints before the limit): none
    splitter: str = PUNKT_TAB_ENGLISH
    punkt: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TokenizerSettings:
        return cls(**values)


class Tokenizer:
    """Splits paragraphs into filtered sentences and sentences into words."""

    def __init__(self, settings: TokenizerSettings) -> None:
        self.settings = settings
        if settings.splitter == PUNKT_TAB_ENGLISH:
            from nltk.tokenize.punkt import PunktTokenizer

            self._splitter: PunktSentenceTokenizer = PunktTokenizer("english")
        elif settings.splitter == PUNKT_TRAINED and settings.punkt is not None:
            self._splitter = PunktSentenceTokenizer(punkt_from_dict(settings.punkt))
        else:
            raise ValueError(f"unknown sentence splitter {settings.splitter!r}")
        self._words = FastWordTokenizer()
        self.dropped_long = 0  # sentences dropped for having more than max_words words

    def sentences(self, paragraph: str) -> list[str]:
        """The paragraph's sentences that pass the filters."""
        settings = self.settings
        if settings.lowercase:
            paragraph = paragraph.lower()
        kept = []
        for sentence in self._splitter.tokenize(paragraph):
            if len(sentence) < settings.min_chars:
                continue
            if settings.drop_urls and URL.search(sentence):
                continue
            kept.append(sentence)
        return kept

    def words(self, sentence: str) -> list[str]:
        """The sentence's words; <special> tokens stay whole."""
        if "<" not in sentence:
            return self._words.tokenize(sentence)
        words: list[str] = []
        for part in SPECIAL_TOKEN.split(sentence):
            if SPECIAL_TOKEN.fullmatch(part):
                words.append(part)
            elif part.strip():
                words.extend(self._words.tokenize(part))
        return words

    def tokenize(self, paragraph: str) -> list[list[str]]:
        """The paragraph as a list of sentences, each a list of words."""
        return [words for _, words in self.split(paragraph)]

    def split(self, paragraph: str) -> list[tuple[str, list[str]]]:
        """The paragraph's sentences, each as its text (normalised) and its words."""
        limit = self.settings.max_words
        tokenized = []
        for sentence in self.sentences(paragraph):
            # Every whitespace-separated piece is at least one word, so an over-long sentence is
            # dropped before the (slow) word tokenizer ever sees it.
            if limit and len(sentence.split()) > limit:
                self.dropped_long += 1
                continue
            words = self.words(sentence)
            if limit and len(words) > limit:
                self.dropped_long += 1
                continue
            if words:
                tokenized.append((sentence, words))
        return tokenized

    def punkt_parameters(self) -> dict[str, Any]:
        """The sentence splitter's Punkt parameters, from punkt_tab or learnt from the corpus."""
        return punkt_to_dict(self._splitter._params)

    def prompt_words(self, text: str) -> list[str]:
        """A prompt's words, normalised as training text was (no sentence splitting)."""
        if self.settings.lowercase:
            text = text.lower()
        return self.words(text)


def build_tokenizer(sample_paragraphs: Iterable[str], settings: PrepareSettings) -> Tokenizer:
    """A tokenizer for a corpus: punkt_tab if installed, else Punkt trained on the sample."""
    tokenizer_settings = TokenizerSettings(lowercase=settings.lowercase,
                                           drop_urls=settings.drop_urls,
                                           min_chars=settings.min_chars,
                                           max_words=settings.max_words)
    if not punkt_tab_installed():
        texts = (p.lower() for p in sample_paragraphs) if settings.lowercase else (
            sample_paragraphs)
        tokenizer_settings.splitter = PUNKT_TRAINED
        tokenizer_settings.punkt = punkt_to_dict(train_punkt(texts))
    return Tokenizer(tokenizer_settings)
