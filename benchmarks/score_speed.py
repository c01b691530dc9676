"""Scoring speed: `charlm score --split one-per-line` on sentences of 10 to 20 words, sentences/s.

    python benchmarks/score_speed.py ../shared/corpora/austen            # trains one epoch first
    python benchmarks/score_speed.py ../shared/corpora/austen --model MODEL.pt [--sentences 20000]

Takes sentences of 10 to 20 words from the corpus, as the model's tokenizer splits it, and writes
them one per line (repeated if the corpus has fewer). Then it times `charlm score MODEL FILE
--split one-per-line` as a user runs it: a fresh process that loads the model, tokenizes, scores and
prints every line (output to /dev/null). It also times the same command in this process, where
torch and NLTK are already imported: the start-up left out, the model's loading kept in.
Without --model it trains the default model on the corpus for one epoch, in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import configure

from charlm.checkpoint.trained import load_trained
from charlm.commands.score import ScoreConfig, print_scores
from charlm.data.corpus import read_paragraphs
from charlm.options import resolve
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter
from charlm.training.loop import run_training

ROOT = Path(__file__).resolve().parent.parent


def sentences_file(model: Path, corpus: str, count: int, out: Path) -> int:
    """Write `count` sentences of 10 to 20 words, one per line; returns how many are distinct."""
    tokenizer = load_trained(model).tokenizer
    chosen: list[str] = []
    for paragraph in read_paragraphs(corpus):
        chosen += [text for text, words in tokenizer.split(paragraph) if 10 <= len(words) <= 20]
        if len(chosen) >= count:
            break
    if not chosen:
        raise SystemExit(f"{corpus} has no sentences of 10 to 20 words")
    lines = list(itertools.islice(itertools.cycle(chosen), count))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return min(len(chosen), count)


def whole_command(model: Path, lines: Path, threads: int) -> float:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "charlm", "score", str(model), str(lines),
                    "--split", "one-per-line"], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def in_process(model: Path, lines: Path) -> float:
    config = resolve(ScoreConfig, {"model": str(model), "files": [str(lines)],
                                   "split": "one-per-line"}, {})
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        print_scores(config)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--model", help="checkpoint to score with (default: train one epoch)")
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    args = parser.parse_args()
    threads = configure(args.threads)
    with tempfile.TemporaryDirectory(prefix="charlm-bench-") as scratch:
        model = Path(args.model) if args.model else Path(scratch) / "model.pt"
        if not args.model:
            print(f"training the default model on {args.corpus} for one epoch ...", flush=True)
            run_training(TrainConfig(corpus=args.corpus, out=str(model), epochs=1, samples=0,
                                     print_every=10**9, threads=args.threads), Reporter(quiet=True))
        lines = Path(scratch) / "lines.txt"
        distinct = sentences_file(model, args.corpus, args.sentences, lines)
        print(f"{args.sentences:,} lines ({distinct:,} distinct sentences of 10-20 words); "
              f"{threads} threads", flush=True)
        command = whole_command(model, lines, args.threads)
        print(f"charlm score --split one-per-line, whole command: {command:.2f} s, "
              f"{args.sentences / command:,.0f} sentences/s")
        loaded = in_process(model, lines)
        print(f"in this process (no start-up): {loaded:.2f} s, "
              f"{args.sentences / loaded:,.0f} sentences/s")


if __name__ == "__main__":
    main()
