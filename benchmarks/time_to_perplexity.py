"""Time to reach a validation perplexity: `charlm train` against one sentence per step.

    python benchmarks/time_to_perplexity.py ../shared/corpora/austen [--target 250] [--minutes 15]
        [--marks 5,15] [--print-every 6400] [--threads 0] [--flag=--batch-size=128 ...]

`charlm train` itself (the same build and loop users run) trains for about --minutes and reports
every --print-every sentences; its metrics file gives the validation perplexity against training
time (reports excluded). The baseline, the tutorial's one sentence per RMSprop step on the same
sentences, is evaluated every --eval-every seconds of its training time. Prints, for each, the
training time at which validation perplexity first fell to --target, and the perplexity at each
mark (minutes).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import (
    Clock,
    Data,
    RNNLanguageModel,
    baseline_step,
    configure,
    load,
    new_model,
    sentence_order,
    train_for,
    validation_ppl,
)

Setup = Callable[[], tuple[RNNLanguageModel, Callable[[], object]]]


def summarise(name: str, curve: list[tuple[float, float]], args: argparse.Namespace) -> None:
    """Print when (training seconds) perplexity reached --target, and its value at each mark."""
    reached = next((t for t, ppl in curve if ppl <= args.target), None)
    marks = sorted(float(m) * 60 for m in args.marks.split(",") if m)
    at_mark = {m: next((ppl for t, ppl in curve if t >= m - 1e-6), None) for m in marks}
    when = f"{reached / 60:.2f} min" if reached is not None else f"not within {args.minutes} min"
    marks_text = ", ".join(f"{m / 60:g} min: {p:.1f}" for m, p in at_mark.items()
                           if p is not None)
    print(f"{name}: val ppl <= {args.target:g} after {when}; val ppl at {marks_text}")


def charlm_curve(args: argparse.Namespace) -> list[tuple[float, float]]:
    flags = ["--threads", str(args.threads), "--epochs", "1000", "--print-every",
             str(args.print_every), "--samples", "0", *args.flag]
    with tempfile.TemporaryDirectory() as workdir:
        result = train_for(args.corpus, args.minutes * 60, flags, Path(workdir))
    curve = [(m["elapsed_s"], m["val_ppl"]) for m in result.metrics]
    for seconds, ppl in curve:
        print(f"  charlm: {seconds / 60:6.2f} min  val ppl {ppl:8.2f}")
    return curve


def baseline_curve(data: Data, args: argparse.Namespace) -> list[tuple[float, float]]:
    model, optimizer = new_model(data)
    order = sentence_order(data)
    return timed_curve("baseline", model, lambda: baseline_step(model, optimizer, data,
                                                                 next(order)), data, args)


def timed_curve(name: str, model: RNNLanguageModel, step_once: Callable[[], object], data: Data,
                args: argparse.Namespace) -> list[tuple[float, float]]:
    clock, curve, next_eval = Clock(), [], args.eval_every
    limit = args.minutes * 60
    while clock.elapsed < limit:
        clock.start()
        while clock.now() < min(next_eval, limit):
            step_once()
        clock.stop()
        ppl = validation_ppl(model, data.valid)
        print(f"  {name}: {clock.elapsed / 60:6.2f} min  val ppl {ppl:8.2f}", flush=True)
        curve.append((clock.elapsed, ppl))
        next_eval += args.eval_every
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--target", type=float, default=250.0)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--marks", default="5,15", help="minutes at which to report perplexity")
    parser.add_argument("--print-every", type=int, default=6400,
                        help="sentences between charlm's reports")
    parser.add_argument("--eval-every", type=float, default=30.0,
                        help="seconds of baseline training between evaluations")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--flag", action="append", default=[],
                        help="a further `charlm train` flag, e.g. --flag=--batch-size=128")
    parser.add_argument("--only", choices=("charlm", "baseline"), default=None)
    args = parser.parse_args()
    print(f"corpus {args.corpus}: {args.minutes:g} min each")
    if args.only != "baseline":
        summarise("charlm", charlm_curve(args), args)
    if args.only != "charlm":
        configure(args.threads)
        summarise("baseline", baseline_curve(load(args.corpus), args), args)


if __name__ == "__main__":
    main()
