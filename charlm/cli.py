"""The `charlm` command: thin Typer commands built from the config dataclasses.

Each command's flags, environment variables, defaults and help come from its config dataclass;
the command resolves a config and hands it to a plain function. Every CharlmError becomes one
line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any, Optional

import typer
from rich.markup import escape

from charlm import __version__
from charlm.commands.complete import CompleteConfig
from charlm.commands.evaluate import EvaluateConfig
from charlm.commands.export import ExportConfig
from charlm.commands.generate import GenerateConfig
from charlm.commands.info import InfoConfig
from charlm.commands.plot import PlotConfig
from charlm.commands.score import ScoreConfig
from charlm.errors import CharlmError
from charlm.options import (
    field_type,
    flag_name,
    help_text,
    metadata,
    option_fields,
    panel_rank,
    parse_text,
    resolve,
)
from charlm.training.config import TrainConfig
from charlm.training.ranks import end_rank_process

app = typer.Typer(
    name="charlm",
    help="Train word-level GRU/LSTM language models on your own text, and generate from them.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

METAVARS = {int: "INTEGER", float: "NUMBER", str: "TEXT"}


def fail(error: CharlmError) -> typer.Exit:
    typer.echo(f"{error.prefix}: {error}", err=True)
    return typer.Exit(error.exit_code)


def _parameter(cls: type, name: str) -> inspect.Parameter:
    meta = metadata(cls, name)
    base, _, is_list = field_type(cls, name)
    text = escape(help_text(cls, name))
    if meta["argument"]:
        default: Any = typer.Argument(None, help=text, metavar=name.upper(), show_default=False)
        # typer inspects the annotation
        annotation: Any = Optional[list[str]] if is_list else Optional[str]  # noqa: UP045
    elif base is bool:
        switch = name.replace("_", "-")
        default = typer.Option(None, f"--{switch}/--no-{switch}", help=text, show_default=False,
                               metavar="", rich_help_panel=meta["panel"])
        annotation = Optional[bool]  # noqa: UP045
    else:
        names = [flag_name(name)] + ([meta["short"]] if meta["short"] else [])
        # Values arrive as text and are parsed here, so a bad value gets the same one-line
        # error whether it came from a flag or an environment variable.
        default = typer.Option(None, *names, help=text, metavar=METAVARS.get(base, "TEXT"),
                               show_default=False, rich_help_panel=meta["panel"])
        annotation = Optional[str]  # noqa: UP045
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def config_command(name: str, cls: type, help: str) -> Callable[[Callable[[Any], None]], None]:
    """Register `run(config)` as a command whose options are the fields of `cls`."""

    def register(run: Callable[[Any], None]) -> None:
        # Grouped in --help by panel, in the order of PANELS.
        ordered = sorted(option_fields(cls), key=lambda f: panel_rank(f.metadata["panel"]))
        parameters = [_parameter(cls, f.name) for f in ordered]

        def command(**given: Any) -> None:
            try:
                flags = {
                    key: parse_text(cls, key, value, flag_name(key))
                    if isinstance(value, str) else value
                    for key, value in given.items()
                }
                config = resolve(cls, flags, os.environ)
                run(config)
            except CharlmError as error:
                raise fail(error) from None
            except KeyboardInterrupt:
                typer.echo("Stopped: interrupted", err=True)
                raise typer.Exit(130) from None

        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.__doc__ = help
        app.command(name, help=help)(command)

    return register


@config_command("train", TrainConfig, "Train a language model on a corpus.")
def train_command(config: TrainConfig) -> None:
    from charlm.commands.train import train_command

    train_command(config)


@config_command("generate", GenerateConfig, "Generate sentences from a checkpoint.")
def generate_command(config: GenerateConfig) -> None:
    from charlm.commands.generate import generate_text

    generate_text(config)


@config_command("evaluate", EvaluateConfig,
                "Measure a checkpoint's loss, perplexity and OOV rate on corpora.")
def evaluate_command(config: EvaluateConfig) -> None:
    from charlm.commands.evaluate import evaluate_files

    evaluate_files(config)


@config_command("score", ScoreConfig,
                "Score sentences one by one: log-probability and perplexity of each, and in all.")
def score_command(config: ScoreConfig) -> None:
    from charlm.commands.score import print_scores

    print_scores(config)


@config_command("complete", CompleteConfig,
                "Explore a model: the likeliest next words of each line typed, and a continuation.")
def complete_command(config: CompleteConfig) -> None:
    from charlm.commands.complete import run_complete

    run_complete(config)


@config_command("export", ExportConfig,
                "Export a model as ONNX, with its vocabulary and tokenizer settings as JSON.")
def export_command(config: ExportConfig) -> None:
    from charlm.commands.export import run_export

    run_export(config)


@config_command("info", InfoConfig, "Describe what a checkpoint holds.")
def info_command(config: InfoConfig) -> None:
    from charlm.commands.info import show_info

    show_info(config)


@config_command("plot", PlotConfig, "Plot training and validation loss from metrics files.")
def plot_command(config: PlotConfig) -> None:
    from charlm.commands.plot import plot_metrics

    plot_metrics(config)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charlm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Train word-level GRU/LSTM language models on your own text, and generate from them."""


def main() -> None:
    try:
        app()
    except SystemExit as done:
        end_rank_process(done.code)
        raise
    end_rank_process(0)
