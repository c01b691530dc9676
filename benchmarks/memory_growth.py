"""Does memory grow over a long run? Peak RSS after epoch 2 against after epoch N.

    python benchmarks/memory_growth.py CORPUS [--epochs 10] [--threads 1] [train flags...]

Trains in this process (no checkpoint kept: it is written to a temporary directory) and records,
at the end of every epoch, the peak resident set size so far (getrusage) and the current one
(/proc/self/statm where there is one). Extra arguments go to `charlm train` as flags, e.g.
`--hidden-dim 64 --vocabulary-size 2000`. Prints one row per epoch and the growth from epoch 2.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from charlm.options import parse_text, resolve
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter
from charlm.training.loop import run_training


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def current_rss_mib() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class EpochMemory(Reporter):
    """Records memory whenever an epoch ends (a report with the epoch complete)."""

    def __init__(self) -> None:
        super().__init__(Console(file=io.StringIO()))
        self.rows: list[tuple[int, float, float | None]] = []

    def report(self, metrics: Any) -> None:
        super().report(metrics)
        epoch = metrics["epoch"]
        if not self.rows or self.rows[-1][0] != epoch:
            self.rows.append((epoch, peak_rss_mib(), current_rss_mib()))
        else:
            self.rows[-1] = (epoch, peak_rss_mib(), current_rss_mib())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args, extra = parser.parse_known_args()
    torch.set_num_threads(args.threads)
    flags: dict[str, Any] = {}
    for flag, value in zip(extra[::2], extra[1::2]):
        name = flag.lstrip("-").replace("-", "_")
        flags[name] = parse_text(TrainConfig, name, value, flag)
    with tempfile.TemporaryDirectory() as tmp:
        flags.update(corpus=args.corpus, out=str(Path(tmp) / "memory.pt"), epochs=args.epochs,
                     print_every=flags.get("print_every", 10**9), samples=0)
        reporter = EpochMemory()
        run_training(resolve(TrainConfig, flags, {}), reporter)
    print("epoch  peak RSS MiB  current RSS MiB")
    for epoch, peak, current in reporter.rows:
        shown = f"{current:15.1f}" if current is not None else "              -"
        print(f"{epoch:5d}  {peak:12.1f}  {shown}")
    by_epoch = {epoch: peak for epoch, peak, _ in reporter.rows}
    if 2 in by_epoch and args.epochs in by_epoch:
        growth = by_epoch[args.epochs] / by_epoch[2] - 1
        print(f"peak after epoch {args.epochs} vs epoch 2: {growth:+.2%}")


if __name__ == "__main__":
    main()
