"""Training tokens per second of every cell: PyTorch's fused layers against the hand-written ones.

    python benchmarks/cell_speed.py CORPUS [--seconds 20] [--threads 2]
        [--cells gru,lstm,rnn,peephole-lstm,cifg-lstm] [--flag=--hidden-dim=256 ...]

CORPUS is any corpus charlm trains on (e.g. ../shared/corpora/austen/emma.txt). Every variant
trains through the Python API, the loop `charlm train` runs (the tutorial's model unless --flag
changes it), for --seconds of training time and reads its tokens and training time from its
reports (one every --print-every sentences; their validation is left out of the time). Variants:
the fused layer where PyTorch has one, and the hand-written cell (--implementation hand-written).
Run it alone on the machine: other work disturbs the figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import train_for

from charlm.model.cells import CELLS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--print-every", type=int, default=3200)
    parser.add_argument("--flag", action="append", default=[],
                        help="a further `charlm train` flag, e.g. --flag=--hidden-dim=256")
    args = parser.parse_args()
    print("| cell | implementation | tokens/s |")
    print("| --- | --- | ---: |")
    for cell in args.cells.split(","):
        implementations = ["fused"] if CELLS[cell].fused is not None else []
        for implementation in [*implementations, "hand-written"]:
            flags = ["--cell", cell, "--implementation", implementation, "--threads",
                     str(args.threads), "--epochs", "1000", "--print-every", str(args.print_every),
                     "--samples", "0", *args.flag]
            with tempfile.TemporaryDirectory() as workdir:
                result = train_for(args.corpus, args.seconds, flags, Path(workdir))
            print(f"| {cell} | {implementation} | {result.tokens_per_s:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
