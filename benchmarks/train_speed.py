"""Training throughput of the default configuration, against the tutorial's one sentence per step.

    python benchmarks/train_speed.py ../shared/corpora/austen [--seconds 60] [--threads 0]

Prints real (non-padding) tokens per second and the padding share of charlm's batched training,
the same for the baseline on the same sentences, and the ratio.
"""

from __future__ import annotations

import argparse

from _common import (
    DEFAULTS,
    Clock,
    baseline_step,
    charlm_step,
    configure,
    epoch_batches,
    load,
    new_model,
    sentence_order,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--seconds", type=float, default=60.0, help="time for each setting")
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--warmup-steps", type=int, default=5)
    args = parser.parse_args()
    threads = configure(args.threads)
    data = load(args.corpus)
    print(f"corpus {args.corpus}: {len(data.train):,} training sentences; {threads} threads")

    model, optimizer = new_model(data)
    batches = epoch_batches(data, args.batch_size)
    for _ in range(args.warmup_steps):
        charlm_step(model, optimizer, data, next(batches))
    clock, tokens, positions, steps = Clock(), 0, 0, 0
    clock.start()
    while clock.now() < args.seconds:
        predicted, computed = charlm_step(model, optimizer, data, next(batches))
        tokens, positions, steps = tokens + predicted, positions + computed, steps + 1
    clock.stop()
    batched = tokens / clock.elapsed
    padding = 1 - tokens / positions
    print(f"charlm (batch {args.batch_size}): {batched:,.0f} tokens/s, {steps} steps, "
          f"padding {padding:.1%} of computed positions")

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
    print(f"baseline (one sentence per RMSprop step): {single:,.0f} tokens/s, {steps} steps")
    print(f"ratio: {batched / single:.1f}x")


if __name__ == "__main__":
    main()
