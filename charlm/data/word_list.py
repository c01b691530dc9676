"""A fixed vocabulary's words, read from a word list (`train --vocabulary`): a recogniser's or a
translator's words, so that the model's words are the decoder's.

A list holds one word a line, or, as Kaldi's words.txt, a word and its id on every line (its first
line says which; the ids are not used: charlm numbers its words from frequent to rare, as
build_vocabulary does, which the adaptive softmax needs). Words are taken as written. Some entries
name no word of a text: `<s>` and `</s>`, the sentence boundaries, which charlm writes as
SENTENCE_START and SENTENCE_END; `<unk>` (in any case), the unknown word, which is charlm's
UNKNOWN_TOKEN; charlm's own special tokens; and in words.txt `<eps>` and the disambiguation symbols
#0, #1, ... So the vocabulary is the special tokens and the rest of the list, and a word of the
text outside it (`<unk>` too) is UNKNOWN_TOKEN.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from charlm.data.settings import MAX_VOCABULARY
from charlm.data.vocab import SPECIAL_TOKENS
from charlm.errors import ConfigError

# The entries of either layout that are no words of a text, and the unknown word (lowercased).
BOUNDARIES = frozenset({"<s>", "</s>"})
UNKNOWN_WORD = "<unk>"
# The entries of words.txt that are symbols of Kaldi's graphs, not words.
KALDI_SYMBOL = re.compile(r"<eps>|#[0-9]+")
KALDI_ID = re.compile(r"[0-9]+")
LAYOUTS = "one word a line, or a word and its id on every line (Kaldi's words.txt)"
KALDI_ENTRY = "a word and its id"
# Words of a list shown in a message.
EXAMPLES = 3


@dataclass(frozen=True)
class WordList:
    """The words of a list, in its order, each once."""

    path: str
    words: tuple[str, ...]

    @property
    def digest(self) -> str:
        """A digest of the words, whatever their order: all that decides the vocabulary."""
        return hashlib.sha256("\n".join(sorted(self.words)).encode("utf-8")).hexdigest()


def read_word_list(path: str) -> WordList:
    """The words of the list at `path`; refused in one line, naming the file and the line, when
    it cannot be read, holds no word, a line not of the first line's layout, or a word twice.
    A bad list is a bad setting (ConfigError: exit 2)."""
    entries = [(number, line.split()) for number, line in enumerate(_lines(path), 1)
               if line.strip()]
    if not entries:
        raise ConfigError(f"the word list {path} is empty: give {LAYOUTS}")
    kaldi = is_kaldi_entry(entries[0][1])
    line_of: dict[str, int] = {}
    for number, fields in entries:
        if kaldi != is_kaldi_entry(fields) or (not kaldi and len(fields) != 1):
            raise ConfigError(f"the word list {path}, line {number}: {' '.join(fields)!r} is not "
                              f"{KALDI_ENTRY if kaldi else 'one word'}; {layout_rule(kaldi)}")
        word = fields[0]
        if not is_word(word, kaldi):
            continue
        if word in line_of:
            raise ConfigError(f"the word list {path}, line {number}: {word!r} is listed twice "
                              f"(first on line {line_of[word]}); list each word once")
        line_of[word] = number
    if not line_of:
        raise ConfigError(f"the word list {path} holds no word, only symbols that are none "
                          "(<s>, </s>, <unk>, <eps>, #0): give the words themselves")
    if len(line_of) + len(SPECIAL_TOKENS) > MAX_VOCABULARY:
        raise ConfigError(f"the word list {path} holds {len(line_of):,} words, more than a "
                          f"vocabulary of at most {MAX_VOCABULARY:,} holds (the "
                          f"{len(SPECIAL_TOKENS)} special tokens included)")
    return WordList(path, tuple(line_of))


def is_kaldi_entry(fields: Sequence[str]) -> bool:
    """Whether a line's fields are a word and its id, as words.txt's lines are."""
    return len(fields) == 2 and KALDI_ID.fullmatch(fields[1]) is not None


def layout_rule(kaldi: bool) -> str:
    """What every line of a list must be, its first line having chosen the layout."""
    if kaldi:
        return f"the first line is {KALDI_ENTRY}, as in Kaldi's words.txt, so every line must be"
    return f"a word list holds {LAYOUTS}"


def is_word(entry: str, kaldi: bool) -> bool:
    """Whether an entry of a list is a word of the vocabulary, not a symbol that stands for one
    of charlm's special tokens or (in words.txt) for a part of Kaldi's graphs."""
    if entry in BOUNDARIES or entry in SPECIAL_TOKENS or entry.lower() == UNKNOWN_WORD:
        return False
    return not (kaldi and KALDI_SYMBOL.fullmatch(entry))


def _lines(path: str) -> list[str]:
    """The lines of a UTF-8 file (a byte-order mark dropped), refused in one line when it
    cannot be read."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"word list not found: {path}; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"the word list {path} is a directory; give a file of words") from None
    except OSError as error:
        raise ConfigError(f"cannot read the word list {path}: {error.strerror or error}"
                          ) from None
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(f"the word list {path}, line {line}: not UTF-8 text; save the list "
                          "as UTF-8") from None
    return text.split("\n")


def different_words(word_list: WordList, vocabulary: Sequence[str], holder: str) -> str | None:
    """How the words of a list differ from a vocabulary's (its special tokens aside), as a
    phrase about the list, `holder` naming the vocabulary's owner; None when they are the same
    words."""
    listed, held = set(word_list.words), set(vocabulary) - set(SPECIAL_TOKENS)
    if listed == held:
        return None
    counts = [f"{len(words):,} {where} (e.g. {', '.join(sorted(words)[:EXAMPLES])})"
              for words, where in ((listed - held, f"not in {holder}'s"),
                                   (held - listed, f"of {holder}'s not in it")) if words]
    return f"{word_list.path} holds other words than {holder}'s vocabulary: {'; '.join(counts)}"


def capitals_warning(path: str, words: Sequence[str]) -> str | None:
    """The warning for words of a list with capitals, which text lowercased never holds."""
    cased = [word for word in words if word != word.lower()]
    if not cased:
        return None
    return (f"{len(cased):,} of the {len(words):,} words of the list {path} have capitals "
            f"(e.g. {', '.join(cased[:EXAMPLES])}), and --lowercase lowercases the text, so "
            "they never occur in it: train with --no-lowercase to keep the text's case")
