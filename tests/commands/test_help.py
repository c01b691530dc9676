"""Help that fits a terminal: every flag, variable and choice shown whole at any width from 60
columns, piped or not; --help, --version and shell completion answer without loading torch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from helpers.training import ROOT, WAIT_S, child_environment, one_error_line
from typer.testing import CliRunner

from charlm.cli import app
from charlm.model.kinds import CELL_KINDS
from charlm.options import default_of, metadata
from charlm.training.config import TrainConfig

GROUP = typer.main.get_command(app)
COMMANDS = list(GROUP.list_commands(None))  # type: ignore[arg-type]
ENV = re.compile(r"\[env: ([^\]]*)\]")


def shown_names(command: list[str]) -> set[str]:
    """Every name the help of `charlm <command>` must show whole: flags, value types (with the
    choices) and variables, read from the parameters themselves."""
    target = GROUP.get_command(None, command[0]) if command else GROUP  # type: ignore[arg-type]
    names: set[str] = set() if command else set(COMMANDS)
    for param in target.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "option":
            names |= {*param.opts, *param.secondary_opts}
        if param.metavar:
            names.add(param.metavar)
        for variables in ENV.findall(param.help or ""):
            names |= {name.strip() for name in variables.split(",")}
    return names


def assert_fits(output: str, names: set[str], width: int) -> None:
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", output), (name, output)
    assert "…" not in output
    too_long = [line for line in output.splitlines() if len(line) > width]
    assert not too_long, too_long


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_name_is_shown_whole(command: list[str], width: int) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    names = shown_names(command)
    assert len(names) >= 4
    assert_fits(result.output, names, width)


def run_charlm(args: list[str], env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """`python -X importtime -m charlm ARGS`, its output piped, as `charlm ... | less` runs it."""
    environment = {k: v for k, v in child_environment(env).items() if k != "COLUMNS"}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "charlm", *args],
                          env=environment, cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT_S)


def imported(done: subprocess.CompletedProcess[str]) -> set[str]:
    """The modules a run imported, from -X importtime's report on stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_piped_help_shows_names_whole_without_torch(command: list[str]) -> None:
    done = run_charlm([*command, "--help"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert_fits(done.stdout, shown_names(command), 80)
    assert "typer" in imported(done)
    assert not {m for m in imported(done) if m == "torch" or m.startswith("torch.")}


def test_version_and_completion_load_no_torch() -> None:
    version = run_charlm(["--version"])
    assert version.returncode == 0 and version.stdout.startswith("charlm ")
    completion = run_charlm([], {"_CHARLM_COMPLETE": "complete_bash",
                                 "COMP_WORDS": "charlm train --cell ", "COMP_CWORD": "3"})
    assert completion.returncode == 0, completion.stderr[-2000:]
    assert completion.stdout.split() == list(CELL_KINDS)
    for done in (version, completion):
        assert "torch" not in imported(done)


def complete(words: str) -> list[str]:
    """What bash completion offers for the last of `words` (typed after `charlm`)."""
    parts = words.split(" ")
    result = CliRunner().invoke(app, [], prog_name="charlm", env={
        "_CHARLM_COMPLETE": "complete_bash", "COMP_WORDS": f"charlm {words}",
        "COMP_CWORD": str(len(parts))})
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_choices_are_the_type_and_are_completed() -> None:
    help_text = CliRunner().invoke(app, ["train", "--help"]).output
    assert f"--cell [{'|'.join(CELL_KINDS)}]" in help_text
    assert "--split [auto|paragraphs|lines|one-per-line]" in help_text
    assert "--device [auto|cpu|cuda]" in help_text
    assert "One of:" not in help_text  # the choices are said once, as the type
    assert complete("train --split o") == ["one-per-line"]
    assert complete("evaluate m.pt --device c") == ["cpu", "cuda"]
    assert complete("train --gate-activation ") == ["sigmoid", "hard-sigmoid"]


def test_a_bad_choice_gets_one_line_from_a_flag_or_a_variable(corpus_file) -> None:
    by_flag = CliRunner().invoke(app, ["train", str(corpus_file), "--cell", "gruu"])
    by_variable = CliRunner().invoke(app, ["train", str(corpus_file)],
                                     env={"CHARLM_CELL": "gruu"})
    choices = ", ".join(CELL_KINDS)
    assert one_error_line(by_flag, 2) == (f"Error: --cell: unknown value 'gruu'; choose one "
                                          f"of {choices}")
    assert one_error_line(by_variable, 2) == (f"Error: CHARLM_CELL: unknown value 'gruu'; "
                                              f"choose one of {choices}")


def test_the_tutorial_schedule_help_tells_the_defaults_as_they_are() -> None:
    # The defaults keep the rate constant (no decay); the help must not promise halving.
    assert metadata(TrainConfig, "lr_decay") and default_of(TrainConfig, "lr_decay") == 1.0
    text = metadata(TrainConfig, "recipe")["help"]
    assert "Both keep the rate constant" in text and "halved" not in text


def test_wide_terminals_get_lines_of_a_readable_width() -> None:
    wide = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).output
    assert 90 < max(len(line) for line in wide.splitlines()) <= 100
