"""Training speed of `charlm train` against a yardstick measured in the same run, and against
the matrix-product bound of its step.

    python benchmarks/train_speed.py ../shared/corpora/austen [--seconds 30] [--pairs 3]
        [--reference 64x25 --reference 20x35] [--threads 0] [--flag=--batch-size=128 ...]
        [--tutorial]

This machine's speed drifts from one week to the next, so an absolute tokens/s says little. Each
pair runs `charlm train` (the command users run: started, stopped with SIGINT after --seconds of
training, its training tokens and time read from its checkpoint) and then the reference trainer
(benchmarks/reference.py: the common examples' way of training the same model on the same
tokens) in each --reference arrangement (rows x window), in turn; it prints each pair's ratio of
charlm to the reference's best arrangement, and the median over the pairs. Then it measures the
machine's matrix-product rate at the shapes of each step (benchmarks/_bound.py) and the share of
that bound each reaches (with --flag=--softmax=adaptive, the bound counts the adaptive layer's
products: its head over every position, each cluster over the positions whose target lies in
it). --tutorial also times the tutorial's own method once: one sentence per
RMSprop step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _bound import (
    Shape,
    adaptive_output_products,
    bound,
    charlm_block,
    full_output_products,
    recurrence_products,
    step_products,
)
from _common import (
    Clock,
    Data,
    baseline_step,
    command_for,
    configure,
    load,
    new_model,
    resolve_flags,
    sentence_order,
)

from charlm.data.batches import target_counts
from charlm.model.kinds import CELL_KINDS
from charlm.model.softmax import AdaptiveSoftmax, adaptive_cutoffs
from charlm.training.config import TrainConfig

HERE = Path(__file__).resolve().parent


def reference(corpus: str, arrangement: str, seconds: float, threads: int) -> float:
    rows, window = arrangement.split("x")
    done = subprocess.run([sys.executable, str(HERE / "reference.py"), corpus, "--batch", rows,
                           "--bptt", window, "--seconds", str(seconds), "--threads",
                           str(threads)], check=True, capture_output=True, text=True)
    return float(json.loads(done.stdout.splitlines()[-1])["tokens_per_s"])


def charlm(corpus: str, seconds: float, flags: list[str]) -> float:
    with tempfile.TemporaryDirectory() as workdir:
        return command_for(corpus, seconds, flags, Path(workdir)).tokens_per_s


def tutorial(corpus: str, seconds: float) -> float:
    """The tutorial's method on the same sentences: one sentence per RMSprop step."""
    data = load(corpus)
    model, optimizer = new_model(data)
    order = sentence_order(data)
    for _ in range(5):
        baseline_step(model, optimizer, data, next(order))
    clock, tokens = Clock(), 0
    clock.start()
    while clock.now() < seconds:
        tokens += baseline_step(model, optimizer, data, next(order))
    clock.stop()
    return tokens / clock.elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--seconds", type=float, default=30.0, help="time for each run")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--reference", action="append", default=None,
                        help="a rows x window arrangement of the reference, e.g. 64x25")
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    parser.add_argument("--flag", action="append", default=[],
                        help="a further `charlm train` flag, e.g. --flag=--batch-size=128")
    parser.add_argument("--tutorial", action="store_true")
    args = parser.parse_args()
    arrangements = args.reference or ["64x25", "20x35"]
    flags = ["--threads", str(args.threads), "--epochs", "1000", "--print-every", str(10**9),
             "--samples", "0", *args.flag]
    steps = step_shapes(args, flags, arrangements)
    ratios, shares = [], []
    for pair in range(1, args.pairs + 1):
        ours = charlm(args.corpus, args.seconds, flags)
        theirs = {a: reference(args.corpus, a, args.seconds, args.threads) for a in arrangements}
        best = max(theirs, key=theirs.__getitem__)
        ratios.append(ours / theirs[best])
        # The products timed at once after the pair: the machine's speed of that moment.
        limits = {name: bound(products, tokens) for name, (products, tokens) in steps.items()}
        shares.append({"charlm": ours / limits["charlm"].tokens_per_s,
                       **{a: theirs[a] / limits[a].tokens_per_s for a in arrangements}})
        print(f"pair {pair}: charlm {ours:,.0f} tokens/s; reference "
              + ", ".join(f"{a} {t:,.0f}" for a, t in theirs.items())
              + f"; ratio to {best}: {ratios[-1]:.2f}; products at "
              + f"{limits['charlm'].gflops:.0f} GFLOP/s; share of the bound: "
              + ", ".join(f"{name} {share:.0%}" for name, share in shares[-1].items()),
              flush=True)
    print(f"charlm / the reference's best arrangement: median {statistics.median(ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in ratios)})")
    for name in shares[0]:
        values = [share[name] for share in shares]
        print(f"share of the matrix-product bound, {name}: median "
              f"{statistics.median(values):.0%} ({', '.join(f'{v:.0%}' for v in values)})")
    for name, (products, tokens) in steps.items():
        flops = sum(shape.flops * count for shape, count in products.items())
        print(f"  {name}: {tokens:,} tokens a step, {flops / tokens / 1e6:.2f} MFLOP per token")
    if args.tutorial:
        single = tutorial(args.corpus, args.seconds)
        print(f"the tutorial's method (one sentence per RMSprop step): {single:,.0f} tokens/s; "
              f"charlm's last run {ours / single:.1f}x")


def step_shapes(args: argparse.Namespace, flags: list[str], arrangements: list[str]
                ) -> dict[str, tuple[Counter[Shape], int]]:
    """The products of each step (benchmarks/_bound.py), and the tokens it predicts."""
    configure(args.threads)
    config = resolve_flags(flags)
    data = load(args.corpus)
    sizes = (config.embedding_dim, config.hidden_dim, config.layers, data.vocab_size)
    gates = CELL_KINDS[config.cell].gate_rows
    if config.context == "document":
        rows, steps = config.batch_size, config.bptt
    else:  # sentences of the mean length, each with its SENTENCE_START
        rows, steps = config.batch_size, round(float(data.train.lengths.mean())) + 1
    shapes = {"charlm": (recurrence_products(rows, steps, *sizes[:3], gates=gates)
                         + output_products(config, rows * steps, data), rows * steps)}
    for arrangement in arrangements:
        a_rows, a_steps = (int(n) for n in arrangement.split("x"))
        shapes[arrangement] = (step_products(a_rows, a_steps, *sizes, gates=3),
                               a_rows * a_steps)
    return shapes


def output_products(config: TrainConfig, positions: int, data: Data) -> Counter[Shape]:
    """The products of charlm's output layer, full or adaptive (cut as `charlm train` cuts it)."""
    hidden = config.hidden_dim
    if config.softmax == "full":
        return full_output_products(positions, hidden, data.vocab_size,
                                    charlm_block(data.vocab_size))
    counts = target_counts(data.train, data.vocab_size)
    layer = AdaptiveSoftmax(hidden, data.vocab_size, adaptive_cutoffs(counts))
    clusters = [(counts[low:high].sum() / counts.sum(), cluster[0].out_features,
                 cluster[1].out_features)
                for low, high, cluster in zip(layer.bounds, layer.bounds[1:], layer.tail)]
    return adaptive_output_products(positions, hidden, layer.head.out_features, clusters,
                                    charlm_block(layer.head.out_features))


if __name__ == "__main__":
    main()
