"""Document context against sentence context: learning in fixed time, the state carried across
sentences, and scoring speed.

    python benchmarks/context.py held-out ../shared/corpora/austen --held-out persuasion.txt
        [--minutes 5] [--setting="--context sentence" --setting="--context document" ...]
    python benchmarks/context.py one-line ../shared/corpora/austen [--minutes 3]
    python benchmarks/context.py csv ../shared/corpora/reddit/reddit-comments-2015-08-sample.csv
    python benchmarks/context.py carry [--minutes 2]
    python benchmarks/context.py score ../shared/corpora/austen --held-out persuasion.txt

held-out: the corpus directory's files but one are trained on, each a document, and the one
left out (--held-out) is the validation text (`--valid`), read as running text by document
context and sentence by sentence by sentence context; each --setting trains alone for --minutes
of training time through the Python API (the loop `charlm train` runs) and is scored on the same
held-out tokens. csv: a CSV corpus (each row a document), a tenth of its rows held out at random
as the validation file of every setting; one-line: the same, of a CSV of unrelated one-line
documents (the corpus's sentences shuffled, one a row) written to a temporary directory. carry:
a synthetic corpus whose every sentence opens with a word fixed by the previous sentence's last
word (one of eight): the loss of those first words in each context against its entropy, log 8.
score: a model trained for --minutes in document context on all files but the held-out one;
`charlm score` of the held-out file in each context, sentences per second (alternating,
--repeats times), and how far the side-by-side pieces of document scoring are from reading each
document whole.

Variants for the decisions documented in docs/performance.md, given as settings of their own:
"--variant no-reset" trains document context without zeroing the state where a document
begins inside a row; "--variant no-shift" cuts every epoch's rows at the same place.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from _common import TrainedFor, train_for

import charlm
from charlm.data import streams
from charlm.data.corpus import corpus_files, read_paragraphs
from charlm.data.streams import sentence_starts
from charlm.data.types import Batch, EncodedSentences

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("no-reset", "no-shift")


@contextlib.contextmanager
def variant(name: str | None) -> Iterator[None]:
    """Training as it would be without one of document context's choices."""
    if name is None:
        yield
        return
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name}; choose one of {', '.join(VARIANTS)}")
    if name == "no-reset":
        original = streams.stream_batch

        def without_resets(stream: streams.Stream, positions: np.ndarray,
                           predicted: np.ndarray | None = None) -> Batch:
            batch = original(stream, positions, predicted)
            batch.resets = None
            return batch

        streams.stream_batch = without_resets  # type: ignore[assignment]
        try:
            yield
        finally:
            streams.stream_batch = original  # type: ignore[assignment]
        return
    with _patched(streams, "epoch_shift", lambda rng, window: 0):
        yield


@contextlib.contextmanager
def _patched(owner: object, name: str, value: object) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def split_setting(setting: str) -> tuple[list[str], str | None]:
    """A setting's `charlm train` flags, and its --variant."""
    words = shlex.split(setting)
    if "--variant" in words:
        at = words.index("--variant")
        return words[:at] + words[at + 2 :], words[at + 1]
    return words, None


def train_settings(corpus: str, settings: list[str], minutes: float, flags: list[str]
                   ) -> list[tuple[str, TrainedFor]]:
    results = []
    for setting in settings:
        words, name = split_setting(setting)
        with tempfile.TemporaryDirectory() as workdir, variant(name):
            result = train_for(corpus, minutes * 60, ["--samples", "0", *flags, *words],
                               Path(workdir))
        results.append((setting, result))
        print(f"{setting}: " + ", ".join(f"{m['elapsed_s'] / 60:.1f} min {m['val_ppl']:.2f}"
                                         for m in result.metrics), flush=True)
    return results


def print_table(title: str, results: list[tuple[str, TrainedFor]]) -> None:
    print(title)
    print("| setting | tokens/s | last val ppl | best val ppl | vs first |")
    print("| --- | ---: | ---: | ---: | ---: |")
    base_ppl = results[0][1].metrics[-1]["val_ppl"]
    base_speed = results[0][1].tokens_per_s
    for setting, result in results:
        last = result.metrics[-1]["val_ppl"]
        best = min(m["val_ppl"] for m in result.metrics)
        print(f"| {setting} | {result.tokens_per_s:,.0f} ({result.tokens_per_s / base_speed:.2f}x)"
              f" | {last:.2f} | {best:.2f} | {last / base_ppl - 1:+.1%} |")


def others_directory(corpus: Path, held_out: str, into: Path) -> Path:
    """`into`, holding links to every file of `corpus` but `held_out`."""
    files = [f for f in corpus_files(corpus) if f.name != held_out]
    if len(files) == len(corpus_files(corpus)):
        raise SystemExit(f"{corpus} has no file {held_out}")
    into.mkdir()
    for file in files:
        (into / file.name).symlink_to(file.resolve())
    return into


def held_out(args: argparse.Namespace) -> None:
    corpus = Path(args.corpus)
    with tempfile.TemporaryDirectory() as folder:
        trained = others_directory(corpus, args.held_out, Path(folder) / "trained")
        valid = str(corpus / args.held_out)
        results = train_settings(str(trained), args.setting or DEFAULT_SETTINGS, args.minutes,
                                 [f"--valid={valid}", *args.flag])
    print_table(f"{corpus} without {args.held_out}, validated on it, {args.minutes:g} minutes "
                "each", results)


DEFAULT_SETTINGS = ["--context sentence", "--context document"]


def write_one_line_documents(corpus: str, out: Path, seed: int = 0) -> int:
    """The corpus's sentences (as charlm's default tokenizer splits them), shuffled, one CSV row
    each: documents that have nothing to do with one another."""
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    from charlm.data.tokenizer import train_punkt

    paragraphs = list(read_paragraphs(corpus))
    splitter = PunktSentenceTokenizer(train_punkt(paragraphs))
    sentences = [s for p in paragraphs for s in splitter.tokenize(p)]
    random.Random(seed).shuffle(sentences)
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body"])
        writer.writerows([s] for s in sentences)
    return len(sentences)


def held_out_rows(corpus: Path, folder: Path, fraction: float = 0.1, seed: int = 0
                  ) -> tuple[Path, Path, int]:
    """A CSV corpus's rows (documents) split at random into a training and a validation CSV,
    so that every setting is validated on the same text; and how many rows were held out."""
    with open(corpus, encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    random.Random(seed).shuffle(rows)
    held = max(1, round(len(rows) * fraction))
    paths = (folder / "train.csv", folder / "valid.csv")
    for path, part in zip(paths, (rows[held:], rows[:held])):
        with open(path, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *part])
    return *paths, held


WITH_VARIANT = [*DEFAULT_SETTINGS, "--context document --variant no-reset"]


def compare_on_rows(corpus: Path, args: argparse.Namespace, title: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        train, valid, held = held_out_rows(corpus, Path(folder))
        results = train_settings(str(train), args.setting or WITH_VARIANT, args.minutes,
                                 [f"--valid={valid}", *args.flag])
    print_table(f"{title}, {held:,} rows held out, {args.minutes:g} minutes each", results)


def one_line(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / "one-line.csv"
        count = write_one_line_documents(args.corpus, rows)
        compare_on_rows(rows, args, f"{count:,} sentences of {args.corpus}, shuffled, one a "
                                    "document")


def csv_corpus(args: argparse.Namespace) -> None:
    compare_on_rows(Path(args.corpus), args, args.corpus)


LASTS = [f"l{name}" for name in "abcdefgh"]
FIRSTS = {last: f"f{name}" for last, name in zip(LASTS, "hgfedcba")}
FILLERS = [f"{a}{b}" for a in "kmnprst" for b in "aeiou"]


def write_carry_corpus(folder: Path, documents: int, sentences: int, seed: int) -> Path:
    """Documents (a file each, a sentence a line) whose sentences each open with the word FIRSTS
    gives the previous sentence's last word, then 2 to 8 fillers, then one of eight last words
    drawn at random."""
    rng = random.Random(seed)
    folder.mkdir()
    for number in range(documents):
        first, lines = rng.choice(list(FIRSTS.values())), []
        for _ in range(sentences):
            last = rng.choice(LASTS)
            lines.append(" ".join([first, *rng.sample(FILLERS, rng.randint(2, 8)), last]))
            first = FIRSTS[last]
        (folder / f"{number:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def first_word_loss(model: charlm.Model, corpus: Path) -> float:
    """Mean surprisal (nats) of each sentence's first word, but a document's first."""
    scored = model.score_text([str(corpus)])
    sentences = scored.sentences
    inner = np.setdiff1d(np.arange(len(sentences)), sentences.documents[:-1])
    return float(scored.surprisal[sentence_starts(sentences)[inner]].mean())


def carry(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        corpus = write_carry_corpus(root / "carry", 400, 100, seed=0)
        valid = write_carry_corpus(root / "valid", 40, 100, seed=1)
        print(f"carry corpus: 400 documents of 100 sentences; first words one of 8 (entropy "
              f"log 8 = {np.log(8):.3f} nats)")
        for context in ("sentence", "document"):
            out = root / f"{context}.pt"
            flags = ["--context", context, "--valid", str(valid), "--split", "one-per-line",
                     "--vocabulary-size", "0", *args.flag]
            result = train_for(str(corpus), args.minutes * 60, flags, root)
            (root / "run.pt").rename(out)
            loss = first_word_loss(charlm.load(out), valid)
            print(f"| {context} | {result.tokens_per_s:,.0f} tokens/s | val ppl "
                  f"{result.metrics[-1]['val_ppl']:.3f} | first-word loss {loss:.3f} nats "
                  f"({loss / np.log(8):.1%} of log 8) |", flush=True)


def exact_surprisals(model: torch.nn.Module, sentences: EncodedSentences) -> np.ndarray:
    """Each document read from start to end as one sequence, one row: document context by its
    definition, without pieces side by side."""
    stream = streams.Stream.of(sentences)
    result = np.empty(len(stream))
    with torch.no_grad():
        for d in range(sentences.document_count):
            first, end = (int(stream.starts[sentences.documents[k]]) for k in (d, d + 1))
            state = None
            for start in range(first, end, 4096):
                stop = min(start + 4096, end)
                inputs, targets, _ = stream.tokens(np.arange(start, stop)[None])
                losses, state = model.token_losses(torch.from_numpy(inputs),
                                                   torch.from_numpy(targets), state)
                result[start:stop] = losses.numpy()
    return result


def score_command(model: Path, text: Path, context: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "charlm", "score", str(model), str(text),
                    "--context", context], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def score(args: argparse.Namespace) -> None:
    corpus = Path(args.corpus)
    text = corpus / args.held_out
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = Path(args.model) if args.model else None
        if model is None:
            trained = others_directory(corpus, args.held_out, root / "trained")
            train_for(str(trained), args.minutes * 60, ["--context", "document", "--samples",
                                                        "0", *args.flag], root)
            model = root / "run.pt"
        loaded = charlm.load(model)
        scored = loaded.score_text([str(text)], context="document")
        exact = exact_surprisals(loaded.trained.model, scored.sentences)
        difference = np.abs(scored.surprisal - exact)
        print(f"{text}: {len(scored.scores):,} sentences; document scoring against each "
              f"document read whole: perplexity {np.exp(scored.surprisal.mean()):.4f} vs "
              f"{np.exp(exact.mean()):.4f}; largest token difference {difference.max():.2e} "
              f"nats, mean {difference.mean():.2e}")
        timings: dict[str, list[float]] = {"sentence": [], "document": []}
        for _ in range(args.repeats):
            for context in timings:
                timings[context].append(score_command(model, text, context))
        for context, seconds in timings.items():
            best = sorted(seconds)[len(seconds) // 2]
            print(f"charlm score --context {context}: median {best:.2f} s of "
                  f"{', '.join(f'{s:.2f}' for s in seconds)}: "
                  f"{len(scored.scores) / best:,.0f} sentences/s")
        ratios = [d / s for s, d in zip(timings["sentence"], timings["document"])]
        print(f"document / sentence time, pair by pair: {', '.join(f'{r:.2f}' for r in ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["held-out", "one-line", "csv", "carry", "score"])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--held-out", default="persuasion.txt")
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--setting", action="append", default=None)
    parser.add_argument("--flag", action="append", default=[], help="a flag for every run")
    parser.add_argument("--model", help="score: a trained model, instead of training one")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    defaults = {"held-out": 5.0, "one-line": 3.0, "csv": 2.0, "carry": 2.0, "score": 5.0}
    args.minutes = args.minutes if args.minutes is not None else defaults[args.what]
    if args.what != "carry" and not args.corpus:
        parser.error(f"{args.what} needs a corpus")
    {"held-out": held_out, "one-line": one_line, "csv": csv_corpus, "carry": carry,
     "score": score}[args.what](args)


if __name__ == "__main__":
    main()
