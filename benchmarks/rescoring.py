"""Rescoring n-best lists: word error rates of the 1-best after rescoring, and hypotheses rescored
a second.

    python benchmarks/rescoring.py wer LISTS_DIR --model PTB.pt --ngram KN5.arpa --dev valid.txt
        [--utterances N]
    python benchmarks/rescoring.py ngram TRAIN.txt OUT.arpa
    python benchmarks/rescoring.py speed LISTS_DIR --model A.pt [--model B.pt ...]
        [--utterances 500] [--rounds 3]

`wer` reads the lists benchmarks/nbest_lists.py makes (valid.nbest.tsv, test.nbest.tsv and their
.ref files) and gives the word error rate of each utterance's 1-best, chosen by: the acoustic
score alone; with the n-gram model (--ngram); with the charlm model (--model), each hypothesis
alone; with both, interpolated word by word, λ chosen on the validation lists, or by EM on the
validation text (--dev, as `--ngram-weight auto --ngram-dev` chooses it); and with charlm (alone,
and interpolated) reading each utterance after the 1-bests chosen before it (`charlm rescore
--context previous`, through `Model.rescore`). Each system's weights (the acoustic weight and the
word penalty; the language model's weight is 1) are those of the lowest word error rate on the
validation lists, on a grid; the test lists are then rescored with them. Each hypothesis alone is
scored once for every λ: its tokens' surprisals from charlm's scoring (`Model.score_sentences`)
and the n-gram's (the same tokens, `charlm.evaluation.ngram`), mixed as `--ngram` mixes them;
the first line checks them against `Model.rescore` (`charlm rescore`) of the test lists.

`ngram` builds a Kneser-Ney 5-gram ARPA file from a training text with IRSTLM (Debian's
`irstlm` package: build-lm.sh, compile-lm), as the n-gram model to compare with and interpolate.
IRSTLM keeps one unknown word of its own, so PTB's `<unk>` (a word of its text) is renamed while
it counts and named back in the ARPA file; the log-probabilities IRSTLM writes above 0 (a known
IRSTLM fault, which KenLM refuses) are written as 0, as KenLM's build_binary -i does.

`speed` times, on the first --utterances utterances of the test lists, `Model.rescore` (each
utterance's hypotheses in one batch) against `Model.score_text` of the same hypotheses one a
line (`charlm score --split one-per-line`), in turn, --rounds times, and prints hypotheses a
second and the ratio of each pair.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbest_lists import edit_distance  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import charlm  # noqa: E402
from charlm.data.streams import sentence_starts  # noqa: E402
from charlm.evaluation.ngram import LN10, NgramModel, interpolate, ngram_surprisals  # noqa: E402

AM_WEIGHTS = np.geomspace(1e-4, 2.0, 44)
WORD_PENALTIES = np.linspace(-6.0, 6.0, 49)
LAMBDAS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
IRSTLM_BIN = Path("/usr/lib/irstlm/bin")
RENAMED_UNK = "xxunkxx"


@dataclass
class Split:
    """One split's lists as arrays, an utterance a row, its hypotheses in the list's order
    (rows padded where an utterance has fewer): acoustic score, words, errors against the
    truth, and the words themselves."""

    lists: Path
    am: np.ndarray
    words: np.ndarray
    errors: np.ndarray
    present: np.ndarray
    texts: list[list[str]]
    reference_words: int


def read_split(folder: Path, split: str, utterances: int | None) -> Split:
    truths = {}
    for line in (folder / f"{split}.ref").read_text(encoding="utf-8").splitlines():
        utt, _, text = line.partition("\t")
        truths[utt] = text.split()
    groups: dict[str, list[tuple[list[str], float]]] = {}
    for line in (folder / f"{split}.nbest.tsv").read_text(encoding="utf-8").splitlines():
        utt, text, score = line.split("\t")
        if utterances is None or len(groups) < utterances or utt in groups:
            groups.setdefault(utt, []).append((text.split(), float(score)))
    lists = folder / f"{split}.first{utterances}.tsv" if utterances else \
        folder / f"{split}.nbest.tsv"
    if utterances:
        lists.write_text("".join(f"{u}\t{' '.join(w)}\t{s}\n" for u, hs in groups.items()
                                 for w, s in hs), encoding="utf-8")
    width = max(len(h) for h in groups.values())
    shape = (len(groups), width)
    am, words, errors = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    present = np.zeros(shape, dtype=bool)
    texts = []
    for row, (utt, hyps) in enumerate(groups.items()):
        for col, (hyp, score) in enumerate(hyps):
            am[row, col], words[row, col] = score, len(hyp)
            errors[row, col] = edit_distance(truths[utt], hyp)
            present[row, col] = True
            texts.append(hyp)
    return Split(lists, am, words, errors, present, texts,
                 sum(len(truths[u]) for u in groups))


def padded(split: Split, values: list[float]) -> np.ndarray:
    out = np.zeros(split.present.shape)
    out[split.present] = values
    return out


def lm_scores(model: charlm.Model, split: Split, **rescore: object) -> np.ndarray:
    rescored = model.rescore(split.lists, nbest_format="tsv", **rescore)
    return padded(split, [h.lm_log10_prob for u in rescored.utterances for h in u.hypotheses])


@dataclass
class TokenScores:
    """Every token of a split's hypotheses (each one's words, then its end), as charlm and the
    n-gram score it, each hypothesis alone: the mixture of any λ is then a sum away."""

    charlm: np.ndarray
    ngram: np.ndarray
    starts: np.ndarray

    def hypothesis_log10(self, split: Split, weight: float) -> np.ndarray:
        mixed = interpolate(self.charlm, self.ngram, weight)
        return padded(split, -np.add.reduceat(mixed, self.starts) / LN10)


def token_scores(model: charlm.Model, ngram: NgramModel, split: Split) -> TokenScores:
    scored = model.score_sentences([" ".join(t) for t in split.texts], split.texts,
                                   str(split.lists))
    sentences = scored.sentences
    return TokenScores(scored.surprisal, ngram_surprisals(ngram, sentences,
                                                          model.trained.vocabulary),
                       sentence_starts(sentences))


def wer(split: Split, lm: np.ndarray, am_weight: float, word_penalty: float) -> float:
    score = np.where(split.present, am_weight * split.am + lm + word_penalty * split.words,
                     -np.inf)
    chosen = score.argmax(axis=1)
    return float(split.errors[np.arange(len(chosen)), chosen].sum() / split.reference_words)


def tune(split: Split, lm: np.ndarray) -> tuple[float, float, float]:
    """The acoustic weight and word penalty of the lowest word error rate, and that rate."""
    best = min((wer(split, lm, a, p), a, p) for a in AM_WEIGHTS for p in WORD_PENALTIES)
    return best[1], best[2], best[0]


def row(name: str, weights: str, valid: float, test: float) -> None:
    print(f"| {name} | {weights} | {valid:.2%} | {test:.2%} |", flush=True)


def run_wer(args: argparse.Namespace) -> None:
    model = charlm.load(args.model)
    splits = {s: read_split(args.lists, s, args.utterances) for s in ("valid", "test")}
    ngram = NgramModel(args.ngram)
    tokens = {s: token_scores(model, ngram, d) for s, d in splits.items()}
    check = lm_scores(model, splits["test"])
    print(f"charlm rescore against the same scores read as sentences: largest difference "
          f"{np.abs(check - tokens['test'].hypothesis_log10(splits['test'], 0.0)).max():.2g} "
          "(log10)")
    print("| system | weights (λ: the n-gram's share) | WER valid | WER test |")
    print("| --- | --- | ---: | ---: |")
    row("acoustic alone", "", wer(splits["valid"], 0, 1.0, 0.0), wer(splits["test"], 0, 1.0, 0.0))
    tuned = {}
    for name, weight in (("+ n-gram", 1.0), ("+ charlm", 0.0)):
        lm = {s: tokens[s].hypothesis_log10(d, weight) for s, d in splits.items()}
        am_weight, penalty, valid_wer = tune(splits["valid"], lm["valid"])
        tuned[name] = (weight, am_weight, penalty)
        row(name, f"am {am_weight:.3g}, word {penalty:.3g}", valid_wer,
            wer(splits["test"], lm["test"], am_weight, penalty))
    by_lambda = []
    for weight in LAMBDAS:
        lm = tokens["valid"].hypothesis_log10(splits["valid"], weight)
        am_weight, penalty, valid_wer = tune(splits["valid"], lm)
        by_lambda.append((valid_wer, weight, am_weight, penalty))
    valid_wer, weight, am_weight, penalty = min(by_lambda)
    tuned["interpolated"] = (weight, am_weight, penalty)
    row("+ both, interpolated", f"λ {weight:g}, am {am_weight:.3g}, word {penalty:.3g}",
        valid_wer, wer(splits["test"], tokens["test"].hypothesis_log10(splits["test"], weight),
                       am_weight, penalty))
    # As `charlm rescore --ngram-weight auto --ngram-dev` reads the transcripts: a line a
    # sentence, each alone.
    em = model.ngram_mix(ngram, "auto", dev=args.dev, context="sentence",
                         split="one-per-line").weight
    lm = {s: tokens[s].hypothesis_log10(d, em) for s, d in splits.items()}
    am_weight, penalty, valid_wer = tune(splits["valid"], lm["valid"])
    row("+ both, λ by EM on the validation text", f"λ {em:.3f}, am {am_weight:.3g}, "
        f"word {penalty:.3g}", valid_wer, wer(splits["test"], lm["test"], am_weight, penalty))
    for name, key in (("+ charlm, --context previous", "+ charlm"),
                      ("+ both, --context previous", "interpolated")):
        weight, am_weight, penalty = tuned[key]
        mix = {"ngram": model.ngram_mix(ngram, weight)} if weight else {}
        rates = []
        for split in splits.values():
            rescored = model.rescore(split.lists, nbest_format="tsv", context="previous",
                                     am_weight=am_weight, word_penalty=penalty, **mix)
            chosen = [u.best_index for u in rescored.utterances]
            rates.append(split.errors[np.arange(len(chosen)), chosen].sum()
                         / split.reference_words)
        row(name, "as without", *rates)


def run_ngram(args: argparse.Namespace) -> None:
    """A Kneser-Ney 5-gram of the training text by IRSTLM, as an ARPA file KenLM reads."""
    tools = Path(os.environ.get("IRSTLM", IRSTLM_BIN.parent)) / "bin"
    if not (tools / "build-lm.sh").exists():
        sys.exit(f"needs IRSTLM ({tools}/build-lm.sh): apt-get install irstlm, or set IRSTLM")
    env = {**os.environ, "IRSTLM": str(tools.parent), "PATH": f"{tools}:{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as work:
        text = Path(work) / "train.se"
        lines = args.train.read_text(encoding="utf-8").splitlines()
        text.write_text("".join(f"<s> {line.replace('<unk>', RENAMED_UNK)} </s>\n"
                                for line in lines if line.strip()), encoding="utf-8")
        subprocess.run(["build-lm.sh", "-i", str(text), "-n", "5", "-k", "2", "-s",
                        "improved-kneser-ney", "-o", f"{work}/lm.gz", "-t", f"{work}/stat"],
                       env=env, check=True, capture_output=True)
        subprocess.run(["compile-lm", f"{work}/lm.gz", "--text=yes", f"{work}/lm.arpa"],
                       env=env, check=True, capture_output=True)
        fix_arpa(Path(work) / "lm.arpa", args.out)
    print(f"wrote {args.out}")


def fix_arpa(source: Path, out: Path) -> None:
    """IRSTLM's ARPA file as KenLM reads PTB: its own <unk> dropped, the renamed word named
    <unk>, log-probabilities above 0 written as 0."""
    with open(source, encoding="utf-8") as lines, open(out, "w", encoding="utf-8") as fixed:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if line.startswith("ngram") and "1=" in line.replace(" ", ""):
                count = int(line.split("=")[1])
                line = f"ngram 1={count - 1}\n"
            elif len(fields) >= 2:
                if fields[1] == "<unk>":
                    continue
                fields[0] = "0" if float(fields[0]) > 0 else fields[0]
                fields[1] = " ".join("<unk>" if w == RENAMED_UNK else w
                                     for w in fields[1].split(" "))
                line = "\t".join(fields) + "\n"
            fixed.write(line)


def run_speed(args: argparse.Namespace) -> None:
    split = read_split(args.lists, "test", args.utterances)
    with tempfile.TemporaryDirectory() as work:
        lines = Path(work) / "hypotheses.txt"
        lines.write_text("".join(" ".join(t) + "\n" for t in split.texts), encoding="utf-8")
        count = len(split.texts)
        for path in args.model:
            model = charlm.load(path)
            print(f"{path}: {count:,} hypotheses of {len(split.am):,} utterances")
            for round_ in range(1, args.rounds + 1):
                start = time.perf_counter()
                model.rescore(split.lists, nbest_format="tsv")
                rescore_s = time.perf_counter() - start
                start = time.perf_counter()
                model.score_text([str(lines)], one_per_line=True)
                score_s = time.perf_counter() - start
                print(f"  round {round_}: rescore {count / rescore_s:,.0f} hypotheses/s, "
                      f"score one-per-line {count / score_s:,.0f}/s, ratio "
                      f"{score_s / rescore_s:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    wer_parser = commands.add_parser("wer")
    wer_parser.add_argument("lists", type=Path)
    wer_parser.add_argument("--model", required=True)
    wer_parser.add_argument("--ngram", required=True)
    wer_parser.add_argument("--dev", required=True)
    wer_parser.add_argument("--utterances", type=int, default=None)
    ngram_parser = commands.add_parser("ngram")
    ngram_parser.add_argument("train", type=Path)
    ngram_parser.add_argument("out", type=Path)
    speed_parser = commands.add_parser("speed")
    speed_parser.add_argument("lists", type=Path)
    speed_parser.add_argument("--model", action="append", required=True)
    speed_parser.add_argument("--utterances", type=int, default=500)
    speed_parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    {"wer": run_wer, "ngram": run_ngram, "speed": run_speed}[args.command](args)


if __name__ == "__main__":
    main()
