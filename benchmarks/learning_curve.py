"""What `charlm train` reaches in a fixed time, for one or more settings, from its metrics file.

    python benchmarks/learning_curve.py ../shared/corpora/austen [--minutes 5] [--curves]
        [--setting=""] [--setting="--tutorial-schedule"] [--flag=--threads=2 ...]

Each --setting (a string of `charlm train` flags; "" is the defaults) runs in turn, alone, through
the Python API (the loop `charlm train` runs), until the first report after --minutes of training
time (reports excluded), where it breaks out of the loop of reports.
--flag adds flags to every setting. Prints, for each: training tokens per second (reports
excluded), the validation perplexity of the last report and the best one, the learning rate at
the end, and with --curves every report.
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path

from _common import TrainedFor, train_for


def run(corpus: str, minutes: float, flags: list[str]) -> TrainedFor:
    with tempfile.TemporaryDirectory() as workdir:
        return train_for(corpus, minutes * 60, flags, Path(workdir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--setting", action="append", default=None,
                        help='flags of one setting, e.g. "--softmax adaptive"; repeatable')
    parser.add_argument("--flag", action="append", default=[], help="a flag for every setting")
    parser.add_argument("--curves", action="store_true", help="print every report too")
    args = parser.parse_args()
    rows = []
    for setting in args.setting or [""]:
        flags = ["--samples", "0", *args.flag, *shlex.split(setting)]
        result = run(args.corpus, args.minutes, flags)
        name = setting or "(defaults)"
        if args.curves:
            print(f"{name}:")
            for report in result.metrics:
                print(f"  {report['elapsed_s'] / 60:6.2f} min  epoch {report['epoch']:3d}  lr "
                      f"{report['lr']:.3g}  val ppl {report['val_ppl']:8.2f}", flush=True)
        last = result.metrics[-1] if result.metrics else None
        best = min((m["val_ppl"] for m in result.metrics), default=float("nan"))
        rows.append((name, result.tokens_per_s, last["val_ppl"] if last else float("nan"), best,
                     last["lr"] if last else float("nan")))
    print(f"{args.corpus}, {args.minutes:g} minutes each, flags for all: "
          f"{' '.join(args.flag) or 'none'}")
    print("| setting | tokens/s | last val ppl | best val ppl | final lr |")
    print("| --- | ---: | ---: | ---: | ---: |")
    base = rows[0][1]
    for name, speed, last_ppl, best_ppl, lr in rows:
        print(f"| {name} | {speed:,.0f} ({speed / base:.2f}x) | {last_ppl:.2f} | {best_ppl:.2f} | "
              f"{lr:.3g} |")


if __name__ == "__main__":
    main()
