"""The figures of a training device, made for a CUDA GPU: speed and what is learnt in fixed time
for the default model and a large one, each cell, both contexts and several batch sizes; and the
corpus prepared with the machine's cores.

    python benchmarks/gpu_figures.py CORPUS [--seconds 60] [--large-minutes 5] [--short 20]
        [--batch-sizes 128,512,2048] [--device cuda] [--flag=--amp ...] [--json FIGURES.json]
        [--parts syncs,batches,default,batch,large,cells,context,prepare]

Every training run goes through the Python API (the loop `charlm train` runs) until the first
report after its time (training time: reports excluded), with no limit of epochs and no samples,
and prints its training tokens/s and the validation perplexity of its last and best reports.
--json writes every figure to FIGURES.json as soon as it is measured, so a run cut short keeps
what it measured. The parts, in the order given:

- syncs: where a training step of the default model makes the host wait for the GPU, in each
  context: every synchronising operation PyTorch reports (torch.cuda.set_sync_debug_mode) over
  --sync-steps steps, by the line that made it, and how many times a step makes it (CUDA only);
- batches: the host's time to build one batch of each of --batch-sizes, in each context (the
  step's input, made by the CPU while the GPU works), and the tokens/s that bounds a GPU to;
- default: the default model (GRU, embedding 48, two layers of 128, 2,000 words), --seconds;
- batch: the default model at each of --batch-sizes, --short seconds each, at the default
  learning rate and at the rate times the square root of the batch's growth over the default;
- large: two LSTM layers of 650, embedding 650, 10,000 words, --large-minutes;
- cells: each cell, fused (where PyTorch has it) and hand-written, --short seconds each;
- context: document and sentence context, --short seconds each;
- prepare: the corpus prepared cold, with the automatic workers and with one
  (as benchmarks/prepare_speed.py measures it, in a fresh process with an empty cache).

--device cpu runs the same parts on the CPU, to try the script (with short times) before a GPU
run; --flag adds a `charlm train` flag to every run.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import tempfile
import time
import warnings
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import torch
from _common import DEFAULTS, TrainedFor, load, settings_from_flags, train_for
from prepare_speed import measure
from rich.console import Console

from charlm.data.batches import sentence_epoch
from charlm.data.streams import stream_epoch
from charlm.data.types import Batch
from charlm.model.cells import CELLS
from charlm.options import resolve
from charlm.training.build import build_run
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter
from charlm.training.loop import train_step
from charlm.training.run import Run

PARTS = ("syncs", "batches", "default", "batch", "large", "cells", "context", "prepare")
LARGE = ["--cell", "lstm", "--embedding-dim", "650", "--hidden-dim", "650", "--layers", "2",
         "--vocabulary-size", "10000"]


class Figures:
    """Every figure measured, printed as it comes and kept in a JSON file when one is named."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.rows: list[dict] = []

    def add(self, part: str, label: str, **values: float | int | str) -> None:
        self.rows.append({"part": part, "label": label, **values})
        shown = ", ".join(f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in values.items())
        print(f"{part:8s} {label}: {shown}", flush=True)
        if self.path:
            self.path.write_text(json.dumps(self.rows, indent=1) + "\n")


def trained(corpus: str, seconds: float, flags: list[str]) -> TrainedFor:
    with tempfile.TemporaryDirectory(prefix="charlm-gpu-") as workdir:
        return train_for(corpus, seconds, ["--epochs", "1000000", "--samples", "0", *flags],
                         Path(workdir))


def record(figures: Figures, part: str, label: str, run: TrainedFor) -> None:
    perplexities = [report["val_ppl"] for report in run.metrics]
    figures.add(part, label, tokens_per_s=run.tokens_per_s, training_s=run.training_s,
                steps=run.steps, val_ppl=perplexities[-1], best_val_ppl=min(perplexities))


def training_runs(args: argparse.Namespace, part: str) -> list[tuple[str, float, list[str]]]:
    """The runs of one training part: (label, seconds, flags)."""
    if part == "default":
        return [("defaults", args.seconds, [])]
    if part == "large":
        return [("LSTM 650 x 2, 10,000 words", args.large_minutes * 60, LARGE)]
    if part == "context":
        return [(f"--context {context}", args.short, ["--context", context])
                for context in ("document", "sentence")]
    if part == "cells":
        return [(f"{cell} {way}", args.short, ["--cell", cell, "--implementation", way])
                for cell in CELLS
                for way in (["fused"] if CELLS[cell].fused is not None else []) + ["hand-written"]]
    runs = []  # the batch part
    for size in (int(size) for size in args.batch_sizes.split(",")):
        rate = DEFAULTS.learning_rate * math.sqrt(size / DEFAULTS.batch_size)
        runs.append((f"batch {size}", args.short, ["--batch-size", str(size)]))
        if size != DEFAULTS.batch_size:
            runs.append((f"batch {size}, rate {rate:.4g}", args.short,
                         ["--batch-size", str(size), "--learning-rate", f"{rate:.6g}"]))
    return runs


def prepare_figures(corpus: str, figures: Figures) -> None:
    with tempfile.TemporaryDirectory(prefix="charlm-gpu-") as scratch:
        for workers in (0, 1):
            result = measure(Path(corpus), Path(scratch) / f"cache-{workers}", workers)
            figures.add("prepare", "automatic workers" if workers == 0 else "one worker",
                        seconds=result["seconds"], workers=result["workers"],
                        peak_mb=result["peak_mb"])


def batch_figures(corpus: str, sizes: list[int], figures: Figures, count: int = 50) -> None:
    """The host's time per batch: what it can feed a GPU at most, tokens a second."""
    data = load(corpus)
    for size in sizes:
        epochs = {"document": stream_epoch(data.train, size, DEFAULTS.bptt, DEFAULTS.seed, 0),
                  "sentence": sentence_epoch(data.train, size, DEFAULTS.seed, 0)}
        for context, epoch in epochs.items():
            built = range(min(count, epoch.count))
            if not built:
                figures.add("batches", f"--context {context}, batch {size}",
                            skipped="the corpus has too few tokens for one batch")
                continue
            started = time.perf_counter()
            tokens = sum(epoch.batch(index).tokens for index in built)
            seconds = (time.perf_counter() - started) / len(built)
            figures.add("batches", f"--context {context}, batch {size}", ms=seconds * 1000,
                        tokens=tokens // len(built), host_bound_tokens_per_s=tokens / len(built)
                        / seconds)


def sync_figures(corpus: str, device: str, steps: int, flags: list[str],
                 figures: Figures) -> None:
    """Each place in a training step that makes the host wait for the GPU, per step (on
    another device the steps run, to try the part, and nothing is counted)."""
    for context in ("document", "sentence"):
        with ExitStack() as held, tempfile.TemporaryDirectory(prefix="charlm-gpu-") as workdir:
            settings = settings_from_flags(["--context", context, "--samples", "0", *flags])
            config = resolve(TrainConfig, {"corpus": corpus, "out": f"{workdir}/sync.pt",
                                           "device": device, **settings}, {})
            run = build_run(config, Reporter(Console(file=io.StringIO())), held)
            run.model.train()
            epoch = run.epoch_batches(0)
            # cuDNN and the caching allocators set up first
            first = epoch.batch(0)
            train_step(run, first, first.tokens)
            done = min(steps, epoch.count - 1)
            places = synchronising_places(run, [epoch.batch(i) for i in range(1, done + 1)])
        label = f"--context {context}"
        if not places:
            figures.add("syncs", label, per_step=0.0, steps=done, device=device)
        for place, count in places.most_common():
            figures.add("syncs", f"{label} {place}", per_step=count / done, steps=done)


def synchronising_places(run: Run, batches: list[Batch]) -> Counter[str]:
    """Train on `batches`; how many times each line made the host wait for the GPU."""
    cuda = run.runtime.device.type == "cuda"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cuda:
            torch.cuda.set_sync_debug_mode("warn")
        try:
            for batch in batches:
                train_step(run, batch, batch.tokens)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")
    return Counter(f"{Path(w.filename).name}:{w.lineno}" for w in caught
                   if "synchroniz" in str(w.message))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--large-minutes", type=float, default=5.0)
    parser.add_argument("--short", type=float, default=20.0)
    parser.add_argument("--batch-sizes", default="128,512,2048")
    parser.add_argument("--sync-steps", type=int, default=20)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--flag", action="append", default=[],
                        help="a further `charlm train` flag, e.g. --flag=--amp")
    parser.add_argument("--json", help="write every figure to this file as it is measured")
    args = parser.parse_args()
    figures = Figures(args.json)
    for part in args.parts.split(","):
        if part not in PARTS:
            raise SystemExit(f"no part {part!r}: the parts are {', '.join(PARTS)}")
        if part == "prepare":
            prepare_figures(args.corpus, figures)
            continue
        if part == "batches":
            batch_figures(args.corpus, [int(size) for size in args.batch_sizes.split(",")],
                          figures)
            continue
        if part == "syncs":
            sync_figures(args.corpus, args.device, args.sync_steps, args.flag, figures)
            continue
        for label, seconds, flags in training_runs(args, part):
            run = trained(args.corpus, seconds, ["--device", args.device, *flags, *args.flag])
            record(figures, part, label, run)


if __name__ == "__main__":
    main()
