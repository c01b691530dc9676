"""One process with N threads against N single-thread processes under torchrun (gloo).

    python benchmarks/threads_vs_ranks.py ../shared/corpora/austen [--procs 2] [--epochs 1]

Runs `charlm train` with the defaults for --epochs each way (plus one process with one thread for
reference) and prints the training tokens per second that `charlm train` measured itself (reports
and evaluation excluded), and the final validation perplexity.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(label: str, launcher: list[str], corpus: str, threads: int, epochs: int,
        out: Path) -> None:
    command = [*launcher, "-m", "charlm", "train", corpus, "-o", str(out), "--force",
               "--epochs", str(epochs), "--samples", "0", "--print-every", str(10**9),
               "--threads", str(threads)]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    lines = Path(f"{out}.metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    tokens = metrics[-1]["tokens"]
    seconds = metrics[-1]["elapsed_s"]
    print(f"{label:36s} {tokens / seconds:9,.0f} tokens/s   val ppl {metrics[-1]['val_ppl']:.1f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    n = args.procs
    with tempfile.TemporaryDirectory(prefix="charlm-bench-") as scratch:
        out = Path(scratch) / "model.pt"
        python = [sys.executable]
        torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}",
                    f"--master_port={free_port()}"]
        run("1 process, 1 thread", python, args.corpus, 1, args.epochs, out)
        run(f"1 process, {n} threads", python, args.corpus, n, args.epochs, out)
        run(f"torchrun: {n} processes x 1 thread", torchrun, args.corpus, 1, args.epochs, out)


if __name__ == "__main__":
    main()
