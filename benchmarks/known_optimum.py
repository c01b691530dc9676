"""Validation perplexity over time against the best any model could reach, on a synthetic corpus.

    python benchmarks/known_optimum.py DIR [--minutes 5] [--threads 0] [--flag=--lr-decay=0.5 ...]

The corpus is drawn from a random first-order Markov chain over 300 made-up lowercase words: a
start distribution over 50 of them; each word is followed by 3 to 12 successors with Zipf-like
weights (exponent 1.1), or ends the sentence with a probability drawn from 0.04-0.2. Each sentence
is one line ending in " .". DIR receives train.txt (200,000 sentences) and valid.txt (20,000),
written once (seeded) and reused.

The optimum is the true chain's cross-entropy on valid.txt per predicted token, as charlm counts
them: every word, the "." and SENTENCE_END (which always follows "." and so costs nothing). Then
charlm trains on DIR/train.txt, validated on DIR/valid.txt, with its defaults (and any --flag)
through the Python API until the first report after --minutes of training time, and its reports
are printed against the optimum.
"""

from __future__ import annotations

import argparse
import math
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import train_for

WORDS = 300
STARTS = 50
TRAIN_SENTENCES = 200_000
VALID_SENTENCES = 20_000
# A sentence this long ends (charlm's default --max-sentence-words); a chain's sentence reaches it
# with a probability below 1e-3, and the optimum counts that forced end exactly.
MAX_WORDS = 200


@dataclass
class Chain:
    words: list[str]
    start: np.ndarray  # probability of each word opening a sentence
    successors: list[np.ndarray]  # word indices that may follow each word
    weights: list[np.ndarray]  # their probabilities, given that the sentence goes on
    end: np.ndarray  # probability that the sentence ends after each word


def make_chain(rng: np.random.Generator) -> Chain:
    words: set[str] = set()
    while len(words) < WORDS:
        length = int(rng.integers(3, 9))
        words.add("".join(rng.choice(list(string.ascii_lowercase), length)))
    vocabulary = sorted(words)
    start = np.zeros(WORDS)
    openers = rng.choice(WORDS, STARTS, replace=False)
    start[openers] = zipf(STARTS, rng)
    successors, weights = [], []
    for _ in range(WORDS):
        count = int(rng.integers(3, 13))
        successors.append(rng.choice(WORDS, count, replace=False))
        weights.append(zipf(count, rng))
    return Chain(vocabulary, start, successors, weights, rng.uniform(0.04, 0.2, WORDS))


def zipf(count: int, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** 1.1
    return rng.permutation(weights / weights.sum())


def sample_sentence(chain: Chain, rng: np.random.Generator) -> list[int]:
    sentence = [int(rng.choice(WORDS, p=chain.start))]
    while len(sentence) < MAX_WORDS and rng.random() >= chain.end[sentence[-1]]:
        last = sentence[-1]
        sentence.append(int(rng.choice(chain.successors[last], p=chain.weights[last])))
    return sentence


def log_probability(chain: Chain, sentence: list[int]) -> float:
    """Natural log-probability of the sentence's words, its "." and SENTENCE_END."""
    total = math.log(chain.start[sentence[0]])
    for previous, word in zip(sentence, sentence[1:]):
        position = int(np.flatnonzero(chain.successors[previous] == word)[0])
        total += math.log((1 - chain.end[previous]) * chain.weights[previous][position])
    if len(sentence) < MAX_WORDS:
        total += math.log(chain.end[sentence[-1]])
    return total  # "." is always followed by SENTENCE_END: log 1 = 0


def write_corpus(directory: Path, seed: int = 2026) -> float:
    """Write train.txt and valid.txt (if missing) and return the optimal perplexity."""
    rng = np.random.default_rng(seed)
    chain = make_chain(rng)
    directory.mkdir(parents=True, exist_ok=True)
    files = {"train.txt": TRAIN_SENTENCES, "valid.txt": VALID_SENTENCES}
    nats, tokens = 0.0, 0
    for name, count in files.items():
        sentences = [sample_sentence(chain, rng) for _ in range(count)]
        if not (directory / name).exists():
            lines = (" ".join(chain.words[w] for w in s) + " .\n" for s in sentences)
            (directory / name).write_text("".join(lines), encoding="utf-8")
        if name == "valid.txt":
            nats = -sum(log_probability(chain, s) for s in sentences)
            tokens = sum(len(s) + 2 for s in sentences)
    return math.exp(nats / tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--flag", action="append", default=[],
                        help="a further `charlm train` flag, e.g. --flag=--lr-decay=0.5")
    args = parser.parse_args()
    optimum = write_corpus(args.directory)
    print(f"optimal validation perplexity: {optimum:.3f}")
    flags = ["--valid", str(args.directory / "valid.txt"), "--threads", str(args.threads),
             "--samples", "0", *args.flag]
    with tempfile.TemporaryDirectory() as workdir:
        result = train_for(str(args.directory / "train.txt"), args.minutes * 60, flags,
                           Path(workdir))
    print("| training time | learning rate | val ppl | against the optimum |")
    print("| ---: | ---: | ---: | ---: |")
    for report in result.metrics:
        print(f"| {report['elapsed_s'] / 60:.2f} min | {report['lr']:.3g} | "
              f"{report['val_ppl']:.3f} | {report['val_ppl'] / optimum:.3f}x |")


if __name__ == "__main__":
    main()
