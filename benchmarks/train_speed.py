"""Training throughput of `charlm train` itself, against the tutorial's one sentence per step.

    python benchmarks/train_speed.py ../shared/corpora/austen [--seconds 60] [--threads 0]
        [--flag=--batch-size=128 ...]

Runs `charlm train` (the same build and loop users run) on the corpus for --seconds, stops it with
SIGINT and reads the training tokens and training time (reports excluded) from its checkpoint.
The baseline is the tutorial's method on the same sentences: one sentence per RMSprop step.
Prints real (non-padding) tokens per second of each and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import (
    Clock,
    baseline_step,
    command_for,
    configure,
    load,
    new_model,
    sentence_order,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--seconds", type=float, default=60.0, help="time for each setting")
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    parser.add_argument("--flag", action="append", default=[],
                        help="a further `charlm train` flag, e.g. --flag=--batch-size=128")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--warmup-steps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        flags = ["--threads", str(args.threads), "--epochs", "1000", "--print-every",
                 str(10**9), "--samples", "0", *args.flag]
        result = command_for(args.corpus, args.seconds, flags, Path(workdir))
    print(f"charlm train {' '.join(args.flag) or '(defaults)'}: {result.tokens_per_s:,.0f} "
          f"tokens/s, {result.steps} steps in {result.training_s:.1f} s of training")
    if args.no_baseline:
        return

    threads = configure(args.threads)
    data = load(args.corpus)
    model, optimizer = new_model(data)
    order = sentence_order(data)
    for _ in range(args.warmup_steps):
        baseline_step(model, optimizer, data, next(order))
    clock, tokens, steps = Clock(), 0, 0
    clock.start()
    while clock.now() < args.seconds:
        tokens += baseline_step(model, optimizer, data, next(order))
        steps += 1
    clock.stop()
    single = tokens / clock.elapsed
    print(f"baseline (one sentence per RMSprop step, {threads} threads): {single:,.0f} "
          f"tokens/s, {steps} steps")
    print(f"ratio: {result.tokens_per_s / single:.1f}x")


if __name__ == "__main__":
    main()
