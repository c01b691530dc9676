"""Corpus preparation time and peak memory: Austen and a large corpus, cold and from the cache.

    python benchmarks/prepare_speed.py ../shared/corpora/austen [--size-mb 500] [--workers 0]
        [--train-steps 20]

Each measurement runs in a fresh process with an empty (cold) or filled (cached) cache directory,
and prints wall-clock seconds and the peak resident memory of the process and of its tokenizer
workers. The large corpus is the given corpus repeated into a temporary directory up to --size-mb;
with --train-steps it is also loaded from the cache, split and trained on for that many steps.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
started = time.perf_counter()
from charlm.data.cache import cached_prepare
from charlm.data.settings import PrepareSettings
corpus, hit = cached_prepare({corpus!r}, PrepareSettings(vocabulary_size=2000), workers={workers},
                             cache_dir={cache!r})
prepared = time.perf_counter() - started
from charlm.data.prepare import choose_workers
result = {{"seconds": prepared, "cached": hit, "sentences": len(corpus.sentences),
          "tokens": int(corpus.sentences.offsets[-1]),
          "workers": choose_workers({workers}, {corpus!r})}}
if {train_steps}:
    import torch
    from charlm.data.batches import epoch_order, make_batch, split_validation
    from charlm.model.network import ModelConfig, RNNLanguageModel
    train_ids, valid_ids = split_validation(len(corpus.sentences), 0.05, 1234)
    train = corpus.sentences.subset(train_ids)
    valid = corpus.sentences.subset(valid_ids)
    model = RNNLanguageModel(ModelConfig(len(corpus.vocabulary)))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-6)
    for indices in epoch_order(train.lengths, 64, 1234, 0)[:{train_steps}]:
        batch = make_batch(train, indices)
        loss, count = model.loss(batch.inputs, batch.targets)
        optimizer.zero_grad()
        (loss / count).backward()
        optimizer.step()
    result["with_training_seconds"] = time.perf_counter() - started
mb = 1024  # ru_maxrss is in KiB on Linux
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mb
result["worker_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mb
print(json.dumps(result))
"""


def measure(corpus: Path, cache: Path, workers: int, train_steps: int = 0) -> dict:
    code = CHILD.format(root=str(ROOT), corpus=str(corpus), cache=str(cache), workers=workers,
                        train_steps=train_steps)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(label: str, result: dict) -> None:
    extra = (f", prepared + split + training steps {result['with_training_seconds']:.1f} s"
             if "with_training_seconds" in result else "")
    print(f"{label:28s} {result['seconds']:7.2f} s  {result['workers']} workers  peak "
          f"{result['peak_mb']:7.0f} MB "
          f"(workers {result['worker_peak_mb']:5.0f} MB)  {result['sentences']:,} sentences, "
          f"{result['tokens']:,} tokens{extra}", flush=True)


def repeated_corpus(source: Path, directory: Path, size_mb: float) -> Path:
    files = sorted(source.rglob("*.txt")) if source.is_dir() else [source]
    target = directory / "big"
    target.mkdir()
    written, copy = 0, 0
    while written < size_mb * 1e6:
        for file in files:
            shutil.copyfile(file, target / f"{copy:04d}-{file.name}")
            written += file.stat().st_size
        copy += 1
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--size-mb", type=float, default=500.0, help="0: skip the large corpus")
    parser.add_argument("--workers", type=int, default=0, help="0: charlm's automatic choice")
    parser.add_argument("--train-steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="charlm-bench-") as scratch:
        work = Path(scratch)
        corpus = Path(args.corpus)
        show("corpus, cold", measure(corpus, work / "cache-small", args.workers))
        show("corpus, from cache", measure(corpus, work / "cache-small", args.workers))
        if args.size_mb > 0:
            big = repeated_corpus(corpus, work, args.size_mb)
            size = sum(f.stat().st_size for f in big.iterdir()) / 1e6
            print(f"large corpus: {size:,.0f} MB in {len(list(big.iterdir()))} files")
            show("large, cold", measure(big, work / "cache-big", args.workers))
            show("large, from cache", measure(big, work / "cache-big", args.workers))
            if args.train_steps:
                show("large, cache + training", measure(big, work / "cache-big", args.workers,
                                                        args.train_steps))


if __name__ == "__main__":
    main()
