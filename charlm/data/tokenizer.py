"""Paragraphs to sentences to words, with NLTK, offline.

Sentences are split by NLTK's Punkt: the English punkt_tab model when NLTK has it installed, else a
Punkt model trained on (a bounded sample of) the corpus itself; with the one-per-line split every
unit is one sentence and Punkt is not used. Words come from NLTK's word tokenizer, applied per
sentence, or, for text that is already tokenized, from whitespace alone. The settings, the split
and the trained Punkt parameters included, travel in the checkpoint so every later command
tokenizes exactly as training did. Nothing is ever downloaded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

from charlm.data.corpus import AUTO, ONE_PER_LINE, PARAGRAPHS, SPLIT_MODES, units_from_lines
from charlm.data.settings import NLTK_WORDS, WHITESPACE_WORDS, WORD_SPLITS, PrepareSettings
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
# Checking Punkt's learnt abbreviations against the sample (see sentence_final_words). A word is
# judged only when written with a period at least this often:
MIN_ABBREVIATION_EVIDENCE = 5
# ... it is not an abbreviation when it begins at most this share of its sentences ...
MAX_SENTENCE_BEGINNINGS = 0.05
# ... and what follows it starts sentences at least this much as a sentence's first word does
# (1: just as much). On Austen "mr." scores at most 0.16 and "mrs." 0.01; the last words of
# repeated sentences score 1.
SENTENCE_FINAL_SCORE = 0.5
OPENING_MARKS = "\"'“‘«([{_*"
CLOSING_MARKS = "\"'”’»)]}_*"


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
    params = trainer.get_params()
    params.abbrev_types -= sentence_final_words(sample, params.abbrev_types)
    return params


def _start_shares(units: list[str]) -> dict[str, float]:
    """The share of units that each word starts."""
    firsts = Counter(words[0].lstrip(OPENING_MARKS).lower()
                     for words in (unit.split() for unit in units) if words)
    total = sum(firsts.values())
    return {word: count / total for word, count in firsts.items()}


def sentence_final_words(units: list[str], abbreviations: set[str]) -> set[str]:
    """The learnt abbreviations that `units` show to be words ending sentences.

    Punkt learns as an abbreviation any word that (nearly) always carries a period, and in
    repetitive text the last words of its few sentences do. What follows tells them apart: after a
    sentence's last word comes the end of the unit or the next sentence's first word, so the words
    that follow are as likely to start a unit as a typical first word is (for a typical first word,
    the mean share of units it starts is the sum of the squared shares). After an abbreviation
    comes the rest of its sentence ("mr." a name), words that seldom start a unit. And an
    abbreviation may begin a sentence; a sentence's last word does not.
    """
    shares = _start_shares(units)
    typical = sum(share * share for share in shares.values())
    written: Counter[str] = Counter()
    begins: Counter[str] = Counter()
    followed: Counter[str] = Counter()  # summed start shares of what follows
    for words in (unit.split() for unit in units):
        after_end = True
        for i, word in enumerate(words):
            core = word.lstrip(OPENING_MARKS).rstrip(CLOSING_MARKS).lower()
            kind = core[:-1]
            if core.endswith(".") and kind in abbreviations and kind.isalpha():
                written[kind] += 1
                begins[kind] += after_end
                next_word = words[i + 1].lstrip(OPENING_MARKS).lower() if i + 1 < len(words) else ""
                followed[kind] += shares.get(next_word, 0.0) if next_word else typical
            after_end = core.endswith(("?", "!")) or (
                core.endswith(".") and kind not in abbreviations)
    return {kind for kind, count in written.items()
            if count >= MIN_ABBREVIATION_EVIDENCE
            and begins[kind] <= MAX_SENTENCE_BEGINNINGS * count
            and followed[kind] >= SENTENCE_FINAL_SCORE * typical * count}


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
    split: str = PARAGRAPHS  # how text is cut before sentence splitting; older checkpoints: this
    words: str = NLTK_WORDS  # how a sentence is cut into words; older checkpoints: NLTK's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TokenizerSettings:
        return cls(**values)


class Tokenizer:
    """Splits paragraphs into filtered sentences and sentences into words."""

    def __init__(self, settings: TokenizerSettings) -> None:
        if settings.split not in SPLIT_MODES:
            raise ValueError(f"unknown split {settings.split!r}")
        if settings.words not in WORD_SPLITS:
            raise ValueError(f"unknown word split {settings.words!r}")
        self.settings = settings
        if settings.splitter == PUNKT_TAB_ENGLISH:
            from nltk.tokenize.punkt import PunktTokenizer

            self._splitter: PunktSentenceTokenizer = PunktTokenizer("english")
        elif settings.splitter == PUNKT_TRAINED and settings.punkt is not None:
            self._splitter = PunktSentenceTokenizer(punkt_from_dict(settings.punkt))
        else:
            raise ValueError(f"unknown sentence splitter {settings.splitter!r}")
        self._words = (str.split if settings.words == WHITESPACE_WORDS
                       else FastWordTokenizer().tokenize)
        self.dropped_long = 0  # sentences dropped for having more than max_words words
        self.longest_dropped = 0  # the most whitespace-separated words of a dropped sentence

    def with_split(self, split: str) -> Tokenizer:
        """The same tokenizer, cutting text with another split."""
        return self if split == self.settings.split else Tokenizer(
            replace(self.settings, split=split))

    def sentences(self, paragraph: str) -> list[str]:
        """The paragraph's sentences that pass the filters."""
        return [sentence for _, sentence in self.written_sentences(paragraph)]

    def written_sentences(self, paragraph: str) -> list[tuple[str, str]]:
        """The paragraph's sentences that pass the filters, each as the paragraph writes it and
        normalised (lowercased, unless the settings keep the case)."""
        settings = self.settings
        normalised = paragraph.lower() if settings.lowercase else paragraph
        # Lowercasing keeps every character's offset but in a few scripts (İ becomes two
        # characters); there the written text is not known and the normalised one stands in.
        written = paragraph if len(normalised) == len(paragraph) else normalised
        kept = []
        for start, end in self._sentence_spans(normalised):
            sentence = normalised[start:end]
            if len(sentence) < settings.min_chars:
                continue
            if settings.drop_urls and URL.search(sentence):
                continue
            kept.append((written[start:end], sentence))
        return kept

    def words(self, sentence: str) -> list[str]:
        """The sentence's words; <special> tokens stay whole."""
        if "<" not in sentence or self.settings.words == WHITESPACE_WORDS:
            return self._words(sentence)
        words: list[str] = []
        for part in SPECIAL_TOKEN.split(sentence):
            if SPECIAL_TOKEN.fullmatch(part):
                words.append(part)
            elif part.strip():
                words.extend(self._words(part))
        return words

    def tokenize(self, paragraph: str) -> list[list[str]]:
        """The paragraph as a list of sentences, each a list of words."""
        return [words for _, words in self.split(paragraph)]

    def split(self, paragraph: str, as_written: bool = False) -> list[tuple[str, list[str]]]:
        """The paragraph's sentences, each as its text (normalised, or as the paragraph writes it
        when `as_written`) and its words."""
        limit = self.settings.max_words
        tokenized = []
        for written, sentence in self.written_sentences(paragraph):
            # Every whitespace-separated piece is at least one word, so an over-long sentence is
            # dropped before the (slow) word tokenizer ever sees it.
            pieces = len(sentence.split())
            if limit and pieces > limit:
                self._drop_long(pieces)
                continue
            words = self.words(sentence)
            if limit and len(words) > limit:
                self._drop_long(len(words))
                continue
            if words:
                tokenized.append((written if as_written else sentence, words))
        return tokenized

    def _drop_long(self, words: int) -> None:
        self.dropped_long += 1
        self.longest_dropped = max(self.longest_dropped, words)

    def punkt_parameters(self) -> dict[str, Any]:
        """The sentence splitter's Punkt parameters, from punkt_tab or learnt from the corpus."""
        return punkt_to_dict(self._splitter._params)

    def prompt_words(self, text: str) -> list[str]:
        """A prompt's words, normalised as training text was (no sentence splitting)."""
        if self.settings.lowercase:
            text = text.lower()
        return self.words(text)

    def prompt_sentences(self, text: str) -> list[list[str]]:
        """A prompt's sentences as words, normalised and cut as training text was (its split,
        then sentences within each unit); none is filtered out, as training's filters would."""
        normalised = text.lower() if self.settings.lowercase else text
        units = units_from_lines(normalised.splitlines(keepends=True), self.settings.split)
        pieces = [unit[start:end] for unit in units
                  for start, end in self._sentence_spans(unit)]
        return [words for piece in pieces if (words := self.words(piece))]

    def _sentence_spans(self, unit: str) -> list[tuple[int, int]]:
        """Where a unit's sentences are: Punkt's spans, or (one per line) the unit, stripped."""
        if self.settings.split == ONE_PER_LINE:
            start = len(unit) - len(unit.lstrip())
            return [(start, max(start, len(unit.rstrip())))]
        return list(self._splitter.span_tokenize(unit))


def build_tokenizer(sample_paragraphs: Iterable[str], settings: PrepareSettings) -> Tokenizer:
    """A tokenizer for a corpus: punkt_tab if installed, else Punkt trained on the sample.

    The split `auto` needs the corpus's file to choose from (prepare_corpus resolves it); given
    only paragraphs, it means paragraphs."""
    tokenizer_settings = TokenizerSettings(lowercase=settings.lowercase,
                                           drop_urls=settings.drop_urls,
                                           min_chars=settings.min_chars,
                                           max_words=settings.max_words,
                                           split=PARAGRAPHS if settings.split == AUTO
                                           else settings.split,
                                           words=settings.words)
    if not punkt_tab_installed():
        texts = (p.lower() for p in sample_paragraphs) if settings.lowercase else (
            sample_paragraphs)
        tokenizer_settings.splitter = PUNKT_TRAINED
        tokenizer_settings.punkt = punkt_to_dict(train_punkt(texts))
    return Tokenizer(tokenizer_settings)
