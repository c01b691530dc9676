"""Each vocabulary word's most frequent written form in the corpus, so output can read in the
corpus's own casing ("Mr. Darcy", "London", "I") though the model reads lowercased text.

Sentences are split on the lowercased text; each sentence's written text is the same span of the
original. Its words come from tokenizing that text again, not lowercased, and a written form is
kept only where it lowercases to the word tokenized from the lowercased text. A sentence whose
only capital is its first letter needs no second tokenization: every form there is the word.
The first word of a sentence is not counted: its capital says where it stands, not how it is
written (a word seen only there keeps its lowercase form; output capitalises sentence starts).

Tokenizing dominates preparation, so forms are counted over the corpus's first chunks only (about
WRITTEN_SAMPLE_CHARS characters), as Punkt learns from a sample: frequent words are all there,
and a word first met later keeps its lowercase form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

# Counting retokenizes the sentences with capitals past their first letter. On a generated 12 MB
# corpus, in one process, counting over 2 MB added about 1 s to 23 s of preparation; over the
# whole corpus it added 6 s.
WRITTEN_SAMPLE_CHARS = 2_000_000


def _first_letter(text: str) -> int:
    """The index of the first letter of `text`, -1 if it has none."""
    return next((i for i, char in enumerate(text) if char.isalpha()), -1)


def count_written_forms(counts: Counter[tuple[str, str]], written: str, words: list[str],
                        tokenize: Callable[[str], list[str]]) -> None:
    """Count the written forms of a sentence's words, (word, form) pairs: `written` is the
    sentence as the text writes it, `words` its words from the normalised text, `tokenize` the
    word tokenizer."""
    start = _first_letter(written)
    if start < 0:
        return
    rest = written[start + 1:]
    forms = words if rest == rest.lower() else tokenize(written)
    if len(forms) != len(words):
        return  # tokenized otherwise with its capitals: the forms cannot be matched to words
    counts.update(zip(words, forms))
    first = next((i for i, form in enumerate(forms) if _first_letter(form) >= 0), None)
    if first is not None:
        counts[words[first], forms[first]] -= 1


def most_frequent_forms(counts: Mapping[tuple[str, str], int], words: Sequence[str]
                        ) -> list[str]:
    """Each word's most frequent written form (a tie: the word itself, else the alphabetically
    first form); a word never counted is its own form."""
    chosen: dict[str, tuple[int, bool, str]] = {}
    for (word, form), count in sorted(counts.items()):
        if count <= 0 or form.lower() != word:
            continue
        key = (count, form == word)
        if word not in chosen or key > chosen[word][:2]:
            chosen[word] = (*key, form)
    return [chosen[word][2] if word in chosen else word for word in words]
