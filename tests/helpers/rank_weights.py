"""Started by torchrun in test_distributed: trains a tiny run for one epoch on this rank and
saves this rank's weights as rank<N>.pt in the given directory. Settings given after the softmax
as NAME=VALUE (VALUE in JSON) replace the run's.

    torchrun --nproc_per_node=2 tests/rank_weights.py CORPUS DIRECTORY SOFTMAX [NAME=VALUE ...]
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path

import torch

# Run as a script from this folder, beside the helpers it imports.
from training import config_of, quiet_reporter, rank_run_flags

from charlm.training.build import build_run
from charlm.training.loop import run_to_end, train_loop
from charlm.training.signals import InterruptGuard


def main(corpus: str, directory: Path, softmax: str, settings: list[str]) -> None:
    changes = {name: json.loads(value) for name, _, value in (s.partition("=") for s in settings)}
    config = config_of(**rank_run_flags(corpus, directory / "ranked.pt", softmax) | changes)
    with ExitStack() as held:
        run = build_run(config, quiet_reporter(), held)
        run_to_end(train_loop(run, InterruptGuard()))
        torch.save(run.model.state_dict(), directory / f"rank{run.ranks.rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4:])
