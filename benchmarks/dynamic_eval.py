"""Dynamic evaluation against plain evaluation on a held-out text: perplexity and sentences/s.

    python benchmarks/dynamic_eval.py MODEL.pt HELD_OUT.txt
    python benchmarks/dynamic_eval.py MODEL.pt HELD_OUT.txt --segment 256 --rate 0.0005 --decay 0
    python benchmarks/dynamic_eval.py PTB.pt valid.txt --gradients train.txt

In one process, as `charlm evaluate` scores (Model.evaluate_files): plain evaluation, then
dynamic evaluation (--dynamic, with the settings given or the defaults), then plain evaluation
again, so a machine that speeds up or slows down during the run shows as two plain timings that
differ. Each time is a whole call, as a user waits for it: reading and encoding the text (the
same in every call; a first, untimed call warms the file cache) and scoring it. Each line gives
the perplexity, the perplexity over tokens whose target is not UNKNOWN_TOKEN, the seconds and the
sentences per second. MODEL must be a checkpoint charlm train wrote (dynamic evaluation divides by
its optimizer's mean squared gradients), or --gradients TEXT names a text to measure them on (a
model trained with SGD: `charlm evaluate --dynamic-gradients`); the dynamic call's time then
includes measuring them.
"""

from __future__ import annotations

import argparse
import time

from _common import configure

import charlm
from charlm.api import Model, Scoring
from charlm.evaluation.dynamic_settings import DynamicSettings

DEFAULTS = DynamicSettings()


def timed(model: Model, text: str, dynamic: DynamicSettings | None) -> tuple[Scoring, float]:
    started = time.perf_counter()
    result = model.evaluate_files([text], dynamic=dynamic or False)
    return result, time.perf_counter() - started


def report(label: str, result: Scoring, seconds: float) -> None:
    summary = result.summary
    print(f"{label:<8} perplexity {summary.perplexity:8.2f}  excluding unknown "
          f"{summary.perplexity_excluding_unknown:8.2f}  {seconds:7.2f} s  "
          f"{summary.sentences / seconds:9,.0f} sentences/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("text", help="held-out text, in any format charlm evaluate reads")
    parser.add_argument("--segment", type=int, default=DEFAULTS.segment_tokens)
    parser.add_argument("--rate", type=float, default=DEFAULTS.rate)
    parser.add_argument("--decay", type=float, default=DEFAULTS.decay)
    parser.add_argument("--gradients", default=None,
                        help="measure the mean squared gradients on this text (the training "
                             "text) rather than take the checkpoint's (--dynamic-gradients)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    args = parser.parse_args()
    threads = configure(args.threads)
    settings = DynamicSettings(args.segment, args.rate, args.decay, args.gradients)
    problem = settings.problem({"segment_tokens": "--segment", "rate": "--rate",
                                "decay": "--decay"})
    if problem:
        raise SystemExit(f"Error: {problem}")
    model = charlm.load(args.model, args.device)
    warm, _ = timed(model, args.text, None)
    summary = warm.summary
    print(f"{args.text}: {summary.sentences:,} sentences, {summary.tokens:,} tokens; "
          f"{args.model} on {model.device}, {threads} threads; dynamic: segments of "
          f"{settings.segment_tokens} tokens, rate {settings.rate:g}, decay {settings.decay:g}",
          flush=True)
    for label, dynamic in (("plain", None), ("dynamic", settings), ("plain", None)):
        report(label, *timed(model, args.text, dynamic))


if __name__ == "__main__":
    main()
