"""`charlm plot`: training and validation loss against tokens seen, one line pair per run.

matplotlib is an optional extra (`plot`; see INSTALL_HINT), imported only here and only when a
plot is drawn, with the Agg backend so no display is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from charlm.distribution import install_hint
from charlm.errors import CharlmError, ConfigError
from charlm.options import option
from charlm.paths import (
    OwnOutput,
    cannot_read,
    check_destination,
    check_input,
    write_atomically,
)
from charlm.training.outputs import REPORT_FIELDS, is_report

DPI = 100
INSTALL_HINT = f"plotting needs matplotlib: {install_hint('plot')}, or pip install matplotlib"
METRICS_SUFFIX = ".metrics.jsonl"
# How files of the image formats charlm can recognise begin. Nothing tells a plot of charlm's
# from another image, so --force replaces an image of the format its name says, never any
# other file (nor a file of a format not listed here).
IMAGE_SIGNATURES = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "pdf": (b"%PDF-",),
    "svg": (b"<?xml", b"<svg"),
    "eps": (b"%!PS",),
    "ps": (b"%!PS",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "tif": (b"II*\x00", b"MM\x00*"),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "webp": (b"RIFF",),
    "gif": (b"GIF87a", b"GIF89a"),
}


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
    force: bool = option(
        False, "Replace an existing image at --out (only an image of that format: never a "
        "checkpoint, a metrics file or any other file)."
    )
    width: int = option(1000, "Image width in pixels.", minimum=100, maximum=20000)
    height: int = option(600, "Image height in pixels.", minimum=100, maximum=20000)

    def check(self, sources: Mapping[str, str]) -> None:
        if not self.metrics:
            raise ConfigError("no metrics file given: charlm plot RUN.pt.metrics.jsonl -o loss.png")


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The reports of one metrics file, refusing files that are not charlm metrics."""
    file = Path(path)
    check_input(file, "metrics")
    if not file.is_file():
        raise CharlmError(f"metrics file not found: {path}")
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            records = [_report(path, number, line)
                       for number, line in enumerate(handle, 1) if line.strip()]
    except OSError as error:
        raise CharlmError(cannot_read(path, error)) from None
    if not records:
        raise CharlmError(f"{path} holds no reports yet")
    return records


def _report(path: str, number: int, line: str) -> dict[str, Any]:
    """Line `number` of a metrics file, which must be a charlm report."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise CharlmError(
            f"{path} line {number} is not JSON: give a "
            f"<checkpoint>{METRICS_SUFFIX} file written by train"
        ) from None
    if not is_report(record):
        raise CharlmError(
            f"{path} line {number} is not a charlm report (it needs "
            f"{', '.join(sorted(REPORT_FIELDS))})"
        )
    return record


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


def is_image(path: Path) -> bool:
    """Whether a file begins as an image of the format its name says."""
    signatures = IMAGE_SIGNATURES.get(path.suffix.lower().lstrip("."), ())
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    return any(head.startswith(signature) for signature in signatures)


IMAGE_OUTPUT = OwnOutput("an image of the format its name says", is_image)


def image_format(out: Path) -> str:
    """The format the image is written in, from its name; refused when matplotlib has none."""
    from matplotlib.backend_bases import FigureCanvasBase

    name = out.suffix.lower().lstrip(".")
    if name not in FigureCanvasBase.get_supported_filetypes():
        raise CharlmError(f"cannot write {out}: its name gives no image format matplotlib "
                          "writes; end it in .png, .pdf or .svg")
    return name


def plot_metrics(config: PlotConfig) -> Path:
    """Run `charlm plot`: write the image and print its path."""
    import typer

    out = Path(config.out)
    check_destination(out, "--out", IMAGE_OUTPUT, config.force,
                      [("a metrics file plotted", Path(p)) for p in config.metrics])
    runs = [(run_label(p, config.metrics), read_metrics(p)) for p in config.metrics]
    plt = _import_pyplot()
    image = image_format(out)
    figure = draw(plt, runs, config)
    try:
        write_atomically(out, partial(figure.savefig, dpi=DPI, format=image))
    except (OSError, ValueError) as error:
        raise CharlmError(f"could not write {out}: {error}") from None
    finally:
        plt.close(figure)
    typer.echo(f"wrote {out}")
    return out


def draw(plt: Any, runs: list[tuple[str, list[dict[str, Any]]]], config: PlotConfig) -> Any:
    """The figure: each run's training and validation loss against tokens seen."""
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
    return figure


def _exp(values: Any) -> Any:
    import numpy as np

    return np.exp(np.minimum(values, 700.0))


def _log(values: Any) -> Any:
    import numpy as np

    # The smallest normal float: a subnormal floor can flush to zero and log(0) warns.
    return np.log(np.maximum(values, np.finfo(np.float64).tiny))
