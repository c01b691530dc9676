"""Generation speed: sentences per second for 1,000 sentences with `charlm generate`'s defaults.

    python benchmarks/generate_speed.py MODEL.pt [--count 1000] [--threads 0]
    python benchmarks/generate_speed.py ../shared/corpora/austen   # trains one epoch first

Given a corpus instead of a checkpoint, trains the default model on it for one epoch (into a
temporary directory) so the sentences have realistic lengths and rejection rates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import configure

from charlm.checkpoint.files import is_checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.commands.generate import GenerateConfig
from charlm.generation.sampling import detokenize, make_generator, sample_sentences
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter
from charlm.training.loop import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_or_corpus")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    threads = configure(args.threads)
    with tempfile.TemporaryDirectory(prefix="charlm-bench-") as scratch:
        path = Path(args.model_or_corpus)
        if not is_checkpoint(path):
            out = Path(scratch) / "model.pt"
            print(f"training one epoch on {path} ...", flush=True)
            run_training(TrainConfig(corpus=str(path), out=str(out), epochs=1, samples=0,
                                     print_every=10**9, threads=threads), Reporter())
            path = out
        trained = load_trained(path)
    defaults = GenerateConfig(model=str(path))
    started = time.perf_counter()
    result = sample_sentences(
        trained.model, args.count, temperature=defaults.temperature,
        min_words=defaults.min_words, max_words=defaults.max_words,
        allow_unknown=defaults.allow_unknown, generator=make_generator(1),
    )
    texts = [detokenize(trained.vocabulary.decode(s.ids)) for s in result.samples]
    seconds = time.perf_counter() - started
    print(f"{len(texts):,} sentences in {seconds:.2f} s: {len(texts) / seconds:,.0f} sentences/s "
          f"({result.attempts:,} sampled, {result.rejected:,} rejected; {threads} threads)")


if __name__ == "__main__":
    main()
