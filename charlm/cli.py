"""The `charlm` command: thin Typer commands built from the config dataclasses.

Each command's flags, environment variables, defaults and help come from its config dataclass;
the command resolves a config and hands it to a plain function. Every CharlmError becomes one
line on stderr and its exit code, never a traceback.

Only the config dataclasses are imported here, and they need no torch: --help, --version and
shell completion answer at once. Each command imports its implementation when it runs.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import typer

from charlm.cli_help import HelpCommand, HelpGroup
from charlm.commands.cache import CacheConfig
from charlm.commands.complete import CompleteConfig
from charlm.commands.evaluate import EvaluateConfig
from charlm.commands.export_config import ExportConfig
from charlm.commands.generate import GenerateConfig
from charlm.commands.info import InfoConfig
from charlm.commands.plot import PlotConfig
from charlm.commands.recipes import RecipesConfig
from charlm.commands.rescore import RescoreConfig
from charlm.commands.score import ScoreConfig
from charlm.distribution import __version__
from charlm.errors import CharlmError
from charlm.options import (
    Former,
    field_type,
    flag_name,
    formers,
    help_text,
    metadata,
    option_fields,
    panel_rank,
    parse_text,
    resolve,
)
from charlm.training.config import TrainConfig

app = typer.Typer(
    name="charlm",
    help="Train word-level GRU/LSTM language models on your own text, and generate from them.",
    cls=HelpGroup,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

METAVARS = {int: "INTEGER", float: "NUMBER", str: "TEXT"}
# The longest list of choices --help shows as an option's type; longer ones (the recipes) would
# not fit a narrow terminal beside the flag: the option takes a NAME, its help says where the
# names are listed, and completion still offers them.
CHOICES_SHOWN = 44


def fail(error: CharlmError) -> typer.Exit:
    typer.echo(f"{error.prefix}: {error}", err=True)
    return typer.Exit(error.exit_code)


def _complete_choices(choices: tuple[str, ...]) -> Callable[[], list[str]]:
    """What shell completion offers for an option with a fixed set of values."""

    def complete() -> list[str]:
        return list(choices)

    return complete


def _choices_metavar(choices: tuple[str, ...]) -> str:
    shown = f"[{'|'.join(choices)}]"
    return shown if len(shown) <= CHOICES_SHOWN else "NAME"


def _parameter(cls: type, name: str) -> inspect.Parameter:
    meta = metadata(cls, name)
    base, _, is_list = field_type(cls, name)
    text = help_text(cls, name)
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
        choices = meta["choices"]
        # Values arrive as text and are parsed here, so a bad value gets the same one-line
        # error whether it came from a flag or an environment variable: the choices are shown
        # and completed, but checked by the settings.
        default = typer.Option(
            None, *names, help=text, show_default=False, rich_help_panel=meta["panel"],
            metavar=_choices_metavar(choices) if choices else METAVARS.get(base, "TEXT"),
            autocompletion=_complete_choices(choices) if choices else None)
        annotation = Optional[str]  # noqa: UP045
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def _former_parameter(former: Former) -> inspect.Parameter:
    """The hidden flag of a former spelling, read as text (or yes/no) by the settings."""
    if former.switch:
        switch = former.name.replace("_", "-")
        default: Any = typer.Option(None, f"--{switch}/--no-{switch}", hidden=True)
        annotation: Any = Optional[bool]  # noqa: UP045
    else:
        default = typer.Option(None, flag_name(former.name), hidden=True)
        annotation = Optional[str]  # noqa: UP045
    return inspect.Parameter(former.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def _parameters(cls: type) -> list[inspect.Parameter]:
    # Grouped in --help by panel, in the order of PANELS; former spellings last, hidden.
    ordered = sorted(option_fields(cls), key=lambda f: panel_rank(f.metadata["panel"]))
    return ([_parameter(cls, f.name) for f in ordered]
            + [_former_parameter(former) for f in ordered for former in formers(cls, f.name)])


def _flags(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """The values typed on the command line: a setting's text parsed to its type; a former
    spelling's left to the settings, which know what each of its values means."""
    settings = {f.name for f in option_fields(cls)}
    return {key: parse_text(cls, key, value, flag_name(key))
            if isinstance(value, str) and key in settings else value
            for key, value in given.items()}


@dataclass(frozen=True)
class Command:
    """A command: its name, the config dataclass its options come from, its help, and the
    plain function (`module:function`) that runs it with the resolved config."""

    name: str
    config_class: type
    help: str
    runs: str

    def run(self, config: Any) -> None:
        # Imported when the command runs: --help and completion never load torch.
        module, function = self.runs.split(":")
        getattr(importlib.import_module(module), function)(config)


COMMANDS = (
    Command("train", TrainConfig, "Train a language model on a corpus.",
            "charlm.commands.train:train_command"),
    Command("generate", GenerateConfig, "Generate sentences from a checkpoint.",
            "charlm.commands.generate:generate_text"),
    Command("evaluate", EvaluateConfig,
            "Measure a checkpoint's loss, perplexity and OOV rate on corpora.",
            "charlm.commands.evaluate:evaluate_files"),
    Command("score", ScoreConfig,
            "Score sentences one by one: log-probability and perplexity of each, and in all.",
            "charlm.commands.score:print_scores"),
    Command("rescore", RescoreConfig,
            "Rescore n-best lists (Kaldi, SRILM, Moses, TSV): each hypothesis's log-probability "
            "and combined score, and each utterance's 1-best.",
            "charlm.commands.rescore:print_rescoring"),
    Command("complete", CompleteConfig,
            "Explore a model: the likeliest next words of each line typed, and a continuation.",
            "charlm.commands.complete:run_complete"),
    Command("export", ExportConfig,
            "Export a model as ONNX, with its vocabulary and tokenizer settings as JSON.",
            "charlm.commands.export:run_export"),
    Command("info", InfoConfig, "Describe what a checkpoint holds.",
            "charlm.commands.info:show_info"),
    Command("plot", PlotConfig, "Plot training and validation loss from metrics files.",
            "charlm.commands.plot:plot_metrics"),
    Command("recipes", RecipesConfig,
            "List the recipes --recipe takes: each paper's settings and published perplexity.",
            "charlm.commands.recipes:show_recipes"),
    Command("cache", CacheConfig,
            "Show the cache of prepared corpora (where it is, what it holds), or clear it.",
            "charlm.commands.cache:show_cache"),
)


def register(command: Command) -> None:
    """Add `command` to the app, its options the fields of its config class."""
    cls = command.config_class
    parameters = _parameters(cls)

    def run_command(**given: Any) -> None:
        try:
            command.run(resolve(cls, _flags(cls, given), os.environ))
        except CharlmError as error:
            raise fail(error) from None
        except KeyboardInterrupt:
            typer.echo("Stopped: interrupted", err=True)
            raise typer.Exit(130) from None

    run_command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run_command.__annotations__ = {p.name: p.annotation for p in parameters}
    run_command.__doc__ = command.help
    run_command.config_class = cls  # type: ignore[attr-defined]  # for the generated reference
    app.command(command.name, help=command.help, cls=HelpCommand)(run_command)


for _command in COMMANDS:
    register(_command)


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


def _end_rank_process(code: int | str | None) -> None:
    # Only training starts a process group, and it loads the module that ends one.
    ranks = sys.modules.get("charlm.training.ranks")
    if ranks is not None:
        ranks.end_rank_process(code)


def main() -> None:
    try:
        app(prog_name="charlm")
    except SystemExit as done:
        _end_rank_process(done.code)
        raise
    _end_rank_process(0)
