"""NLTK's word tokenizer, with the same output, in about half the time.

NLTKWordTokenizer runs some thirty regular-expression substitutions over every sentence, and most
of them cannot match a typical sentence: each needs a character (a quote, a bracket, a dash, an
apostrophe...) or a word ("cannot", "'tis") that is absent. Here each substitution runs only when
the text, as it stands at that point, holds one of the strings it needs; a substring test is far
cheaper than a regular-expression scan. The expressions, their order and the output are NLTK's own.

What each rule needs is written below for NLTK's rules as charlm knows them, each by its full
pattern. When this NLTK's rules differ (a pattern changed, a rule added or removed, the
contractions matched another way) or a probe sentence comes out otherwise, charlm tokenizes with
NLTK's own tokenizer instead: the same words, more slowly, and `word_tokenizer_warning` says so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nltk.tokenize import NLTKWordTokenizer

# A rule as charlm knows it: NLTK's pattern, its substitution, and the strings one of which the
# text must hold for the pattern to match (None: always run).
KnownRule = tuple[str, str, "tuple[str, ...] | None"]

STARTING_QUOTES: tuple[KnownRule, ...] = (
    ("([«“‘„]|[`]+)", r" \1 ", tuple("«“‘„`")),
    (r"^\"", r"``", ('"',)),
    (r"(``)", r" \1 ", ("``",)),
    (r"([ \(\[{<])(\"|\'{2})", r"\1 `` ", ('"', "''")),
    (r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 ", ("'",)),
)
PUNCTUATION: tuple[KnownRule, ...] = (
    (r'([^\.])(\.)([\]\)}>"\'' "»”’ " r"]*+)\s*$", r"\1 \2 \3 ", (".",)),
    (r"([:,])([^\d])", r" \1 \2", (":", ",")),
    (r"([:,])$", r" \1 ", (":", ",")),
    (r"\.{2,}", r" \g<0> ", ("..",)),
    (r"[;@#$%&]", r" \g<0> ", tuple(";@#$%&")),
    (r"[\u2012-\u2015]", r" \g<0> ", tuple("\u2012\u2013\u2014\u2015")),
    (r'([^\.])(\.)([\]\)}>"\']*)\s*$', r"\1 \2\3 ", (".",)),
    (r"[?!]", r" \g<0> ", ("?", "!")),
    (r"([^'])' ", r"\1 ' ", ("' ",)),
    (r"[*]", r" \g<0> ", ("*",)),
)
PARENS_BRACKETS: KnownRule = (r"[\]\[\(\)\{\}\<\>]", r" \g<0> ", tuple("[](){}<>"))
DOUBLE_DASHES: KnownRule = (r"--", r" -- ", ("--",))
ENDING_QUOTES: tuple[KnownRule, ...] = (
    ("([»”’])", r" \1 ", tuple("»”’")),
    (r"''", " '' ", ("''",)),
    (r'"', " '' ", ('"',)),
    (r"\s+", " ", None),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 ", ("'",)),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 ", ("'",)),
)
# The contractions: NLTK's pattern and the word it matches, case-insensitively (Python's re).
CONTRACTIONS2: tuple[tuple[str, str], ...] = (
    (r"(?i)\b(can)(?#X)(not)\b", "cannot"),
    (r"(?i)\b(d)(?#X)('ye)\b", "d'ye"),
    (r"(?i)\b(gim)(?#X)(me)\b", "gimme"),
    (r"(?i)\b(gon)(?#X)(na)\b", "gonna"),
    (r"(?i)\b(got)(?#X)(ta)\b", "gotta"),
    (r"(?i)\b(lem)(?#X)(me)\b", "lemme"),
    (r"(?i)\b(more)(?#X)('n)\b", "more'n"),
    (r"(?i)\b(wan)(?#X)(na)(?=\s)", "wanna"),
)
CONTRACTIONS3: tuple[tuple[str, str], ...] = (
    (r"(?i) ('t)(?#X)(is)\b", "'tis"),
    (r"(?i) ('t)(?#X)(was)\b", "'twas"),
)
# Sentences whose tokens must come out as NLTK's before charlm trusts its copy of the rules.
PROBES = (
    "I cannot go, d'ye see? Gimme that; 'tis late and 'Twas CANNOT wanna gonna gotta lemme more'n.",
    "“Curly” «guillemets» ‘single’ „low” -- a—b–c (round) [square] {curly} <angle>",
    "it's ''x'' ``y`` They're we've I'll I'm he'd THEY'RE DON'T won't o'clock rock 'n' roll'",
    "Wait... what?! *stars* @user #tag $3.88 50% A&B Mr. X's dog's bone: 1,000 at 12:30.",
    '"Hello," he said. "Bye." She said \'no\' twice. Gımme GİMME \'tıs',
)

Rule = tuple["tuple[str, ...] | None", Any, str]


def _ignorecase_letters() -> dict[int, str]:
    """Every non-ASCII character that Python's re, ignoring case, matches to an ASCII letter,
    mapped to that letter (ı and İ to i, ſ to s, the Kelvin sign to k). Case mappings onto ASCII
    all lie in the Basic Multilingual Plane, so it is the only plane searched."""
    plane = "".join(map(chr, range(0x80, 0x10000)))
    table = {}
    for match in re.finditer("[a-z]", plane, re.IGNORECASE):
        char = match.group()
        table[ord(char)] = next(letter for letter in "abcdefghijklmnopqrstuvwxyz"
                                if re.fullmatch(letter, char, re.IGNORECASE))
    return table


def _pattern_of(regexp: Any) -> str:
    return str(getattr(regexp, "pattern", regexp))


def _rules_difference(nltk_class: type[NLTKWordTokenizer]) -> str | None:
    """What differs between `nltk_class`'s rules and the ones charlm knows (None: nothing)."""
    groups: list[tuple[str, Sequence[Any], Sequence[KnownRule]]] = [
        ("STARTING_QUOTES", nltk_class.STARTING_QUOTES, STARTING_QUOTES),
        ("PUNCTUATION", nltk_class.PUNCTUATION, PUNCTUATION),
        ("PARENS_BRACKETS", [nltk_class.PARENS_BRACKETS], [PARENS_BRACKETS]),
        ("DOUBLE_DASHES", [nltk_class.DOUBLE_DASHES], [DOUBLE_DASHES]),
        ("ENDING_QUOTES", nltk_class.ENDING_QUOTES, ENDING_QUOTES),
    ]
    for name, rules, known in groups:
        found = [(_pattern_of(regexp), substitution) for regexp, substitution in rules]
        expected = [(pattern, substitution) for pattern, substitution, _ in known]
        if found != expected:
            return f"its {name} rules are not the ones charlm knows"
    for name, regexps, known_words in (("CONTRACTIONS2", nltk_class.CONTRACTIONS2, CONTRACTIONS2),
                                       ("CONTRACTIONS3", nltk_class.CONTRACTIONS3, CONTRACTIONS3)):
        found = [_pattern_of(regexp) for regexp in regexps]
        if found != [pattern for pattern, _ in known_words] or not all(
            isinstance(regexp, re.Pattern) and regexp.flags & re.IGNORECASE for regexp in regexps
        ):
            return f"its {name} rules are not the ones charlm knows"
    return None


def _guarded(rules: Sequence[Any], known: Sequence[KnownRule]) -> list[Rule]:
    """NLTK's compiled rules, each with what it needs."""
    return [(needs, regexp, substitution)
            for (regexp, substitution), (_, _, needs) in zip(rules, known)]


@dataclass
class _GuardedRules:
    """NLTK's compiled rules, each with the strings it needs."""

    before: list[Rule]
    ending: list[Rule]
    contractions: list[tuple[str, Any]]
    letters: dict[int, str]

    @classmethod
    def of(cls, nltk_class: type[NLTKWordTokenizer]) -> _GuardedRules:
        before = (_guarded(nltk_class.STARTING_QUOTES, STARTING_QUOTES)
                  + _guarded(nltk_class.PUNCTUATION, PUNCTUATION)
                  + _guarded([nltk_class.PARENS_BRACKETS], [PARENS_BRACKETS])
                  + _guarded([nltk_class.DOUBLE_DASHES], [DOUBLE_DASHES]))
        contractions = [(word, regexp) for (_, word), regexp in zip(
            CONTRACTIONS2 + CONTRACTIONS3, nltk_class.CONTRACTIONS2 + nltk_class.CONTRACTIONS3)]
        return cls(before, _guarded(nltk_class.ENDING_QUOTES, ENDING_QUOTES), contractions,
                   _ignorecase_letters())

    def tokenize(self, text: str) -> list[str]:
        for needs, regexp, substitution in self.before:
            if needs is None or any(s in text for s in needs):
                text = regexp.sub(substitution, text)
        text = " " + text + " "
        for needs, regexp, substitution in self.ending:
            if needs is None or any(s in text for s in needs):
                text = regexp.sub(substitution, text)
        # The contractions match ignoring case: every character that matches one of their
        # letters that way is mapped onto that letter before looking for the word.
        folded = text.lower() if text.isascii() else text.translate(self.letters).lower()
        for word, regexp in self.contractions:
            if word in folded:
                text = regexp.sub(r" \1 \2 ", text)
        return text.split()


@functools.cache
def _checked_rules(nltk_class: type[NLTKWordTokenizer]) -> _GuardedRules | str:
    """The guarded rules for `nltk_class`, or what differs from the rules charlm knows."""
    try:
        difference = _rules_difference(nltk_class)
        if difference is not None:
            return difference
        rules = _GuardedRules.of(nltk_class)
    except (AttributeError, TypeError, ValueError):
        return "its rules are laid out differently"
    nltk = nltk_class()
    for probe in PROBES:
        if rules.tokenize(probe) != nltk.tokenize(probe):
            return f"it tokenizes {probe[:30]!r}... otherwise"
    return rules


def word_tokenizer_warning(nltk_class: type[NLTKWordTokenizer] = NLTKWordTokenizer
                           ) -> str | None:
    """One line saying that charlm tokenizes words with NLTK's own tokenizer, and why; None when
    it uses its faster copy."""
    checked = _checked_rules(nltk_class)
    if not isinstance(checked, str):
        return None
    import nltk

    return (f"NLTK {nltk.__version__}'s word tokenizer differs from the one charlm knows "
            f"({checked}); words are tokenized by NLTK's own tokenizer: the same words, slower")


class FastWordTokenizer:
    """Same tokens as NLTKWordTokenizer().tokenize(text), faster (NLTK's own tokenizer, when this
    NLTK's rules are not the ones charlm knows)."""

    tokenize: Callable[[str], list[str]]

    def __init__(self, nltk_class: type[NLTKWordTokenizer] = NLTKWordTokenizer) -> None:
        checked = _checked_rules(nltk_class)
        self.tokenize = nltk_class().tokenize if isinstance(checked, str) else checked.tokenize
