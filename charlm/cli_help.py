"""The --help layout: each option's names on a line of their own, its help indented below.

A table of flags, types and help leaves the help a narrow column, and a name longer than the
column was cut (`CHARLM_LEARNING_RAT…`). Here the help takes the whole width less an indent, and
text is wrapped between words only, so every flag and variable is shown whole, at any width from
60 columns, at a terminal or not (then 80 columns, or $COLUMNS).
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

# A parameter of a command (a TyperArgument or a TyperOption) and the Context it is parsed in.
Parameter = Any
Command = TyperCommand | TyperGroup

# Wider text is hard to read; narrower terminals get their own width.
MAX_WIDTH = 100
NAME_INDENT = "  "
HELP_INDENT = "      "
ARGUMENTS, OPTIONS, COMMANDS = "Arguments", "Options", "Commands"
FACT = re.compile(r"\[[^\]]*\]")
FACTS = re.compile(rf"{FACT.pattern}(?: {FACT.pattern})*")


def help_width() -> int:
    """The terminal's width ($COLUMNS first; 80 when the output is not a terminal)."""
    return min(shutil.get_terminal_size().columns, MAX_WIDTH)


def wrapped(text: str, width: int, indent: str, first_indent: str | None = None) -> list[str]:
    """Lines of `text`, each paragraph (line) of it wrapped between words, never inside one; a
    paragraph of facts ([env: ...] [default: ...]) keeps each fact on one line where it fits."""
    lines = []
    for paragraph in text.splitlines() or [""]:
        wrapper = textwrap.TextWrapper(
            width=width, initial_indent=indent if first_indent is None else first_indent,
            subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
        if FACTS.fullmatch(paragraph.strip()):
            lines += packed(FACT.findall(paragraph), wrapper)
        else:
            lines += wrapper.wrap(paragraph) or [indent]
        first_indent = None
    return lines


def packed(facts: list[str], wrapper: textwrap.TextWrapper) -> list[str]:
    """The facts, as many on a line as fit; one too long for a line is wrapped on its own."""
    lines: list[str] = []
    for fact in facts:
        joined = f"{lines[-1]} {fact}" if lines else ""
        if lines and len(joined) <= wrapper.width:
            lines[-1] = joined
        elif len(wrapper.subsequent_indent) + len(fact) <= wrapper.width:
            lines.append(wrapper.subsequent_indent + fact)
        else:
            lines += wrapper.wrap(fact)
    return lines


def parameter_names(param: Parameter) -> str:
    """How the parameter is written: `CORPUS`, `-o, --out TEXT`, `--force / --no-force`."""
    if isinstance(param, TyperArgument):
        name = param.metavar or (param.name or "").upper()
        return name + ("..." if param.nargs != 1 else "")
    short = [o for o in param.opts if not o.startswith("--")]
    names = ", ".join([*short, *(o for o in param.opts if o.startswith("--"))])
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if not getattr(param, "is_flag", False) and param.metavar:
        names += f" {param.metavar}"
    return names


def sections(command: Command, ctx: typer.Context
             ) -> Iterator[tuple[str, list[Parameter]]]:
    """Arguments, options without a panel, then each panel, in the order first met."""
    grouped: dict[str, list[Parameter]] = {ARGUMENTS: [], OPTIONS: []}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        default = ARGUMENTS if isinstance(param, TyperArgument) else OPTIONS
        grouped.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(param)
    yield from ((title, params) for title, params in grouped.items() if params)


def usage(command: Command, ctx: typer.Context, width: int) -> list[str]:
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return wrapped(f"Usage: {ctx.command_path} {pieces}", width, " " * 7, "")


def parameters_text(command: Command, ctx: typer.Context, width: int) -> list[str]:
    lines = []
    for title, params in sections(command, ctx):
        lines += ["", typer.style(f"{title}:", bold=True)]
        for param in params:
            lines.append(typer.style(NAME_INDENT + parameter_names(param), bold=True))
            lines += wrapped(getattr(param, "help", None) or "", width, HELP_INDENT)
    return lines


def commands_text(group: TyperGroup, ctx: typer.Context, width: int) -> list[str]:
    commands = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    shown = [(name, command) for name, command in commands if command and not command.hidden]
    if not shown:
        return []
    column = max(len(name) for name, _ in shown) + 2
    lines = ["", typer.style(f"{COMMANDS}:", bold=True)]
    for name, command in shown:
        summary = (command.help or "").split("\n\n")[0].replace("\n", " ")
        indent = NAME_INDENT + " " * column
        lines += wrapped(summary, width, indent, NAME_INDENT + name.ljust(column))
    return lines


def help_page(command: Command, ctx: typer.Context) -> str:
    width = help_width()
    lines = usage(command, ctx, width)
    if command.help:
        lines += ["", *wrapped(command.help.split("\n\n")[0].replace("\n", " "), width, "")]
    lines += parameters_text(command, ctx, width)
    if isinstance(command, TyperGroup):
        lines += commands_text(command, ctx, width)
    return "\n".join(line.rstrip() for line in lines) + "\n"


class HelpCommand(TyperCommand):
    """A command whose --help has the layout above."""

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        formatter.write(help_page(self, ctx))


class HelpGroup(TyperGroup):
    """The group of commands, with the same --help layout."""

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        formatter.write(help_page(self, ctx))
