"""Time to reach a validation perplexity, batched (charlm's defaults) against one sentence per step.

    python benchmarks/time_to_perplexity.py ../shared/corpora/austen [--target 250] [--minutes 15]
        [--marks 5,15] [--eval-every 30] [--threads 0]

Both settings train the default model for --minutes of training time (evaluation excluded) on the
same sentences; the validation set is evaluated every --eval-every seconds. Prints, for each, the
training time at which validation perplexity first fell to --target, and the perplexity at each
mark (minutes) — equal wall-clock comparisons.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from _common import (
    DEFAULTS,
    Clock,
    Data,
    RNNLanguageModel,
    baseline_step,
    charlm_step,
    configure,
    epoch_batches,
    load,
    new_model,
    sentence_order,
    validation_ppl,
)

Setup = Callable[[], tuple[RNNLanguageModel, Callable[[], object]]]


def run(name: str, data: Data, setup: Setup, args: argparse.Namespace) -> None:
    model, step_once = setup()
    marks = sorted(float(m) * 60 for m in args.marks.split(",") if m)
    limit = args.minutes * 60
    clock = Clock()
    reached: float | None = None
    at_mark: dict[float, float] = {}
    next_eval = args.eval_every
    while True:
        clock.start()
        while clock.now() < min(next_eval, limit):
            step_once()
        clock.stop()
        ppl = validation_ppl(model, data.valid)
        print(f"  {name}: {clock.elapsed / 60:6.2f} min  val ppl {ppl:8.2f}", flush=True)
        if reached is None and ppl <= args.target:
            reached = clock.elapsed
        for mark in marks:
            if mark not in at_mark and clock.elapsed >= mark - 1e-6:
                at_mark[mark] = ppl
        if clock.elapsed >= limit:
            break
        next_eval = min(next_eval + args.eval_every, limit)
        for mark in marks:
            if clock.elapsed < mark < next_eval:
                next_eval = mark
    when = f"{reached / 60:.2f} min" if reached is not None else f"not within {args.minutes} min"
    marks_text = ", ".join(f"{m / 60:g} min: {p:.1f}" for m, p in sorted(at_mark.items()))
    print(f"{name}: val ppl <= {args.target:g} after {when}; val ppl at {marks_text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--target", type=float, default=250.0)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--marks", default="5,15", help="minutes at which to report perplexity")
    parser.add_argument("--eval-every", type=float, default=30.0, help="seconds of training")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--only", choices=("charlm", "baseline"), default=None)
    args = parser.parse_args()
    threads = configure(args.threads)
    data = load(args.corpus)
    print(f"corpus {args.corpus}: {len(data.train):,} training / {len(data.valid):,} validation "
          f"sentences; {threads} threads; {args.minutes:g} min each")

    def batched() -> tuple[RNNLanguageModel, Callable[[], object]]:
        model, optimizer = new_model(data)
        batches = epoch_batches(data, DEFAULTS.batch_size)
        return model, lambda: charlm_step(model, optimizer, data, next(batches))

    def single() -> tuple[RNNLanguageModel, Callable[[], object]]:
        model, optimizer = new_model(data)
        order = sentence_order(data)
        return model, lambda: baseline_step(model, optimizer, data, next(order))

    if args.only != "baseline":
        run("charlm", data, batched, args)
    if args.only != "charlm":
        run("baseline", data, single, args)


if __name__ == "__main__":
    main()
