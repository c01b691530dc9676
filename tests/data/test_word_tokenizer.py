"""charlm's word tokenizer gives exactly NLTK's tokens, and NLTK's own when its rules change."""

import random
import re

from nltk.tokenize import NLTKWordTokenizer

from charlm.data.word_tokenizer import FastWordTokenizer, word_tokenizer_warning

TRICKY = [
    "I cannot go, d'ye see? Gimme that; 'tis late and 'Twas CANNOT wanna gonna gotta lemme more'n.",
    "“Curly” «guillemets» ‘single’ „low” -- a—b–c (round) [square] {curly} <angle>",
    "it's ''x'' ``y``",
    "Wait... what?! *stars* @user #tag $3.88 50% A&B Mr. X's dog's bone.",
    '"Hello," he said. "Bye." She said \'no\' twice.',
    "Tabs\tand\nnewlines  and   spaces end here .",
    "They're we've I'll I'm he'd THEY'RE DON'T won't o'clock rock 'n' roll'",
    "Ends with a colon:",
    "1,000,000 at 12:30 on 3.4.2020.",
    # Letters that Python's re matches to i, s and k when ignoring case, though casefold() and
    # lower() do not turn them into those letters.
    "gımme GİMME 'tıs 'twaſ cannot ſo gonna",
    "",
    "'",
]
CONTRACTIONS = ["cannot", "d'ye", "gimme", "gonna", "gotta", "lemme", "more'n", "wanna", "'tis",
                "'twas"]
# Each letter's stand-ins under re.IGNORECASE: its capital, and ı İ for i, ſ for s, K for k.
STAND_INS = {"i": "iIıİ", "s": "sSſ", "k": "kKK"}


def test_same_tokens_as_nltk_on_tricky_text() -> None:
    nltk, fast = NLTKWordTokenizer(), FastWordTokenizer()
    for text in TRICKY:
        assert fast.tokenize(text) == nltk.tokenize(text), text


def test_same_tokens_as_nltk_on_random_punctuation_soup() -> None:
    alphabet = "ab cnotdy'\"`.,:;?!()[]{}<>-—«»“”‘’*@#$%&\t\nITıİſK"
    rng = random.Random(0)
    nltk, fast = NLTKWordTokenizer(), FastWordTokenizer()
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        assert fast.tokenize(text) == nltk.tokenize(text), repr(text)


def test_same_tokens_as_nltk_on_contractions_in_any_case() -> None:
    rng = random.Random(1)
    nltk, fast = NLTKWordTokenizer(), FastWordTokenizer()
    for _ in range(2000):
        words = []
        for _ in range(rng.randrange(1, 5)):
            word = rng.choice(CONTRACTIONS)
            words.append("".join(rng.choice(STAND_INS.get(c, c + c.upper())) for c in word))
        text = rng.choice(["", "'", " "]).join(words) + rng.choice(["", ".", " x", "?"])
        assert fast.tokenize(text) == nltk.tokenize(text), repr(text)


class ChangedPattern(NLTKWordTokenizer):
    """An NLTK whose '?!' rule also splits off '~': as many rules as before, one pattern new."""

    PUNCTUATION = [(re.compile(r"[?!~]"), r" \g<0> ") if regexp.pattern == "[?!]"
                   else (regexp, substitution)
                   for regexp, substitution in NLTKWordTokenizer.PUNCTUATION]


class AddedRule(NLTKWordTokenizer):
    ENDING_QUOTES = [*NLTKWordTokenizer.ENDING_QUOTES, (re.compile(r"\+"), " + ")]


def test_other_nltk_rules_fall_back_to_nltks_own_tokenizer() -> None:
    text = "one~two+three? gımme"
    for changed in (ChangedPattern, AddedRule):
        assert FastWordTokenizer(changed).tokenize(text) == changed().tokenize(text)
        warning = word_tokenizer_warning(changed)
        assert warning is not None and "\n" not in warning
        assert "are not the ones charlm knows" in warning
    assert FastWordTokenizer(ChangedPattern).tokenize(text)[:3] == ["one", "~", "two+three"]


def test_this_nltk_gets_the_fast_copy_of_its_rules() -> None:
    # Any difference from NLTK on the probe sentences would have switched to NLTK's tokenizer.
    assert word_tokenizer_warning() is None
