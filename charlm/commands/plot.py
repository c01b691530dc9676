"""`charlm plot`: training and validation loss against tokens seen, one line pair per run.

matplotlib is an optional extra (`plot`; see INSTALL_HINT), imported only here and only when a
plot is drawn, with the Agg backend so no display is needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charlm import install_hint
from charlm.errors import CharlmError, ConfigError
from charlm.options import option

DPI = 100
INSTALL_HINT = f"plotting needs matplotlib: {install_hint('plot')}, or pip install matplotlib"
METRICS_SUFFIX = ".metrics.jsonl"


@dataclass
class PlotConfig:
    """Settings of `charlm plot`."""

    COMMAND = "plot"

    metrics: list[str] = option(
        [],
        "Metrics files written by train (<checkpoint>.metrics.jsonl); one line per run.",
        argument=True,
    )
    out: str = option(
        "loss.png", "Image file to write (PNG, or any format matplotlib knows).", short="-o"
    )
    width: int = option(1000, "Image width in pixels.", minimum=100, maximum=20000)
    height: int = option(600, "Image height in pixels.", minimum=100, maximum=20000)

    def check(self, sources: Mapping[str, str]) -> None:
        if not self.metrics:
            raise ConfigError("no metrics file given: charlm plot RUN.pt.metrics.jsonl -o loss.png")


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The reports of one metrics file, refusing files that are not charlm metrics."""
    file = Path(path)
    if not file.is_file():
        raise CharlmError(f"metrics file not found: {path}")
    records = []
    with open(file, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise CharlmError(
                    f"{path} line {number} is not JSON: give a "
                    f"<checkpoint>{METRICS_SUFFIX} file written by train"
                ) from None
            if not isinstance(record, dict) or not {"tokens", "train_loss", "val_loss"} <= set(
                record
            ):
                raise CharlmError(
                    f"{path} line {number} is not a charlm report (it needs tokens, "
                    "train_loss and val_loss)"
                )
            records.append(record)
    if not records:
        raise CharlmError(f"{path} holds no reports yet")
    return records


def run_label(path: str, paths: list[str]) -> str:
    """A run's name: the file name without .metrics.jsonl, the full path where names clash."""

    def short(p: str) -> str:
        name = Path(p).name
        return name[: -len(METRICS_SUFFIX)] if name.endswith(METRICS_SUFFIX) else name

    label = short(path)
    return path if sum(short(p) == label for p in paths) > 1 else label


def _import_pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CharlmError(INSTALL_HINT) from None
    return plt


def plot_metrics(config: PlotConfig) -> Path:
    """Run `charlm plot`: write the image and print its path."""
    import typer

    out = Path(config.out)
    if not out.parent.is_dir():
        raise CharlmError(f"cannot write {out}: directory {out.parent} does not exist")
    runs = [(run_label(p, config.metrics), read_metrics(p)) for p in config.metrics]
    plt = _import_pyplot()

    figure, axis = plt.subplots(figsize=(config.width / DPI, config.height / DPI), dpi=DPI)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for number, (label, records) in enumerate(runs):
        colour = colours[number % len(colours)]
        tokens = [r["tokens"] for r in records]
        axis.plot(
            tokens,
            [r["train_loss"] for r in records],
            color=colour,
            linestyle="--",
            marker=".",
            label=f"{label} train",
        )
        axis.plot(
            tokens,
            [r["val_loss"] for r in records],
            color=colour,
            marker="o",
            markersize=3,
            label=f"{label} validation",
        )
    axis.set_xlabel("training tokens seen")
    axis.set_ylabel("loss (nats per token)")
    axis.grid(True, alpha=0.3)
    # Perplexity is exp(loss): a second scale on the same lines, not another set of lines.
    perplexity = axis.secondary_yaxis("right", functions=(_exp, _log))
    perplexity.set_ylabel("perplexity")
    axis.legend(fontsize="small")
    axis.set_title("training and validation loss")
    figure.tight_layout()

    staged = out.with_name(f".{out.name}.tmp-{os.getpid()}{out.suffix}")
    try:
        figure.savefig(staged, dpi=DPI)
        os.replace(staged, out)
    except (OSError, ValueError) as error:
        raise CharlmError(f"could not write {out}: {error}") from None
    finally:
        plt.close(figure)
        staged.unlink(missing_ok=True)
    typer.echo(f"wrote {out}")
    return out


def _exp(values: Any) -> Any:
    import numpy as np

    return np.exp(np.minimum(values, 700.0))


def _log(values: Any) -> Any:
    import numpy as np

    # The smallest normal float: a subnormal floor can flush to zero and log(0) warns.
    return np.log(np.maximum(values, np.finfo(np.float64).tiny))
