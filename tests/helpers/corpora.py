"""Small corpora that the tests generate themselves."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

NAMES = ["anna", "ben", "clara", "david", "emma", "frank", "grace", "henry"]
PLACES = ["the garden", "the village", "the river", "the market", "the old house", "the hill"]
VERBS = ["walked to", "looked at", "spoke of", "dreamed of", "returned to", "painted"]
MOODS = ["happy", "tired", "quiet", "curious", "cheerful", "worried"]
TIMES = ["in the morning", "after dinner", "at noon", "before the rain", "on sunday"]


def sentence(rng: random.Random) -> str:
    name = rng.choice(NAMES).capitalize()
    kind = rng.randrange(4)
    if kind == 0:
        return f"{name} {rng.choice(VERBS)} {rng.choice(PLACES)} {rng.choice(TIMES)}."
    if kind == 1:
        return f"{name} was {rng.choice(MOODS)} {rng.choice(TIMES)}."
    if kind == 2:
        return f"Mr. {name} {rng.choice(VERBS)} {rng.choice(PLACES)}, and {rng.choice(MOODS)}."
    return f"Did {name} see {rng.choice(PLACES)} {rng.choice(TIMES)}?"


def write_corpus(path: Path, sentences: int = 400, seed: int = 0) -> Path:
    """A wrapped plain-text corpus: paragraphs of 4 sentences, lines of 60 columns."""
    rng = random.Random(seed)
    lines = [sentence(rng) for _ in range(sentences)]
    paragraphs = [" ".join(lines[i : i + 4]) for i in range(0, len(lines), 4)]
    path.write_text("\n\n".join(textwrap.fill(p, 60) for p in paragraphs) + "\n", encoding="utf-8")
    return path
