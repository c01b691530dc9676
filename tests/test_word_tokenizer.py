"""charlm's word tokenizer gives exactly NLTK's tokens."""

import random

from nltk.tokenize import NLTKWordTokenizer

from charlm.data.word_tokenizer import FastWordTokenizer

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
    "",
    "'",
]


def test_same_tokens_as_nltk_on_tricky_text() -> None:
    nltk, fast = NLTKWordTokenizer(), FastWordTokenizer()
    for text in TRICKY:
        assert fast.tokenize(text) == nltk.tokenize(text), text


def test_same_tokens_as_nltk_on_random_punctuation_soup() -> None:
    alphabet = "ab cnotdy'\"`.,:;?!()[]{}<>-—«»“”‘’*@#$%&\t\nIT"
    rng = random.Random(0)
    nltk, fast = NLTKWordTokenizer(), FastWordTokenizer()
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        assert fast.tokenize(text) == nltk.tokenize(text), repr(text)
