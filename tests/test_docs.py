"""The documentation says what the code does and can be found one's way in: the configuration
reference is the code's, every setting explains itself, and every link leads somewhere."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def make_configuration():
    """docs/make_configuration.py as a module (docs/ is no package)."""
    name = "make_configuration"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, DOCS / "make_configuration.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_configuration_reference_is_current():
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert page == make_configuration().render(), (
        "docs/configuration.md is stale: run python docs/make_configuration.py")


def test_check_mode_tells_a_stale_page(tmp_path, monkeypatch):
    generator = make_configuration()
    assert generator.main(["--check"]) == 0
    stale = tmp_path / "configuration.md"
    stale.write_text(generator.render().replace("--learning-rate", "--rate"), encoding="utf-8")
    monkeypatch.setattr(generator, "PAGE", stale)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0 and generator.main(["--check"]) == 0


def test_the_script_runs_from_anywhere(tmp_path):
    """`python docs/make_configuration.py --check`, as the page tells, from another directory."""
    done = subprocess.run([sys.executable, str(DOCS / "make_configuration.py"), "--check"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_setting_has_help_text():
    assert make_configuration().missing_help() == []


def test_every_command_is_read_from_its_configuration_class():
    """A command registered from a config dataclass is documented from that class (its
    variables, defaults and bounds), not from what Typer alone knows."""
    from charlm.cli import COMMANDS

    documented = {command.name: command for command in make_configuration().commands()}
    assert "train" in [command.name for command in COMMANDS]
    for command in COMMANDS:
        assert documented[command.name].config is command.config_class, command.name


def test_reference_lists_every_flag_the_command_line_accepts():
    """Read from click, which parses the command line: every command and each of its flags
    (both spellings of a switch, short forms) appears in that command's section."""
    from charlm.cli import app

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name, command in leaf_commands(typer.main.get_command(app)):
        documented = documented_flags(page, f"## `charlm {name}`")
        for parameter in command.params:
            if parameter.name == "help" or getattr(parameter, "hidden", False):
                continue
            spellings = [*parameter.opts, *parameter.secondary_opts]
            if parameter.param_type_name == "argument":
                spellings = [parameter.name.upper()]
            assert set(spellings) <= documented, (name, spellings)


def leaf_commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every command that runs, as typed after `charlm` (a group's commands after its name)."""
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (Typer's own click, or click's)
            found += leaf_commands(command, f"{prefix}{name} ")
        else:
            found.append((prefix + name, command))
    return found


def documented_flags(page: str, heading: str) -> set[str]:
    """The spellings in the first column of the tables of a command's section."""
    assert heading in page, f"no section {heading!r}"
    section = page.split(heading, 1)[1].split("\n## ", 1)[0]
    cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    return {spelling.strip("` .").removesuffix("...")
            for cell in cells for spelling in re.findall(r"`[^`]+`", cell)
            for spelling in spelling.strip("`").split("/")}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose_lines(path: Path) -> list[str]:
    """A Markdown file's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(path):
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            anchor, n = base, 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(path: Path) -> list[str]:
    targets = []
    for line in prose_lines(path):
        targets += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return targets


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    return broken


def test_every_link_leads_to_a_file_and_heading_that_exist():
    assert len(PAGES) > 2
    broken = {page.relative_to(ROOT).as_posix(): broken_links(page) for page in PAGES}
    assert {page: found for page, found in broken.items() if found} == {}


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with commas\n")
    page = tmp_path / "page.md"
    page.write_text("# Here\n\n[ok](other.md#a-code-heading-with-commas) [self](#here)\n"
                    "[gone](missing.md) [no heading](other.md#nowhere) `[in code](x.md)`\n"
                    "```\n[in a block](y.md)\n```\n")
    assert broken_links(page) == ["missing.md (no such file)",
                                  "other.md#nowhere (no such heading)"]


def test_readme_stays_an_introduction():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
