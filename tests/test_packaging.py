"""What a published charlm is: one version and one distribution name, written in
charlm/distribution.py (and served by `charlm`); install hints that install this project; a
licence; extras with floors and the tested versions in constraints.txt, which `make install`
uses; linting without torch."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from helpers.training import ROOT
from typer.testing import CliRunner

import charlm
from charlm.cli import app

tomllib = pytest.importorskip("tomllib")
requirements = pytest.importorskip("packaging.requirements")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_version_has_one_source() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert "version" not in PROJECT
    assert "version" in PROJECT["dynamic"]
    assert setup["setuptools"]["dynamic"]["version"] == {"attr": "charlm.distribution.__version__"}
    result = CliRunner().invoke(app, ["--version"])
    assert result.stdout.strip() == f"charlm {charlm.__version__}"


def test_the_distribution_name_has_one_source() -> None:
    assert PROJECT["name"] == charlm.DISTRIBUTION != "charlm"
    assert PROJECT["scripts"] == {"charlm": "charlm.__main__:main"}


def test_every_install_hint_installs_this_project() -> None:
    hinted = set()
    for path in (ROOT / "charlm").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        # `charlm` on the package index is another project: no hint may name it.
        assert not re.search(r"pip install ['\"]?charlm(?![\w-])", text), path
        hinted |= set(re.findall(r"install_hint\(['\"](\w+)['\"]\)", text))
    # Every extra a user installs for a feature is hinted where the feature needs it.
    assert hinted == set(PROJECT["optional-dependencies"]) - {"dev"}
    assert charlm.install_hint("export") == (
        "pip install 'charlm-rnn[export]' (from a checkout: pip install -e '.[export]')")


def test_the_licence_and_metadata_a_published_package_carries() -> None:
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "Copyright (c) 2026 the charlm authors" in licence
    assert PROJECT["authors"] == [{"name": "the charlm authors"}]
    assert set(PROJECT["urls"]) == {"Homepage", "Repository", "Issues", "Documentation"}
    assert PROJECT["keywords"] and "Typing :: Typed" in PROJECT["classifiers"]
    # An SPDX licence expression and a licence classifier cannot both be given.
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])


def constraints() -> dict[str, list[requirements.Requirement]]:
    pins: dict[str, list[requirements.Requirement]] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            pin = requirements.Requirement(line)
            pins.setdefault(pin.name, []).append(pin)
    return pins


def test_extras_give_floors_and_constraints_the_versions_tested() -> None:
    pins = constraints()
    for line in PROJECT["optional-dependencies"]["export"]:
        wanted = requirements.Requirement(line)
        assert all(s.operator == ">=" for s in wanted.specifier), line  # a floor, not a pin
        tested = [p for p in pins[wanted.name] if str(p.marker) == str(wanted.marker)]
        assert len(tested) == 1, line
        [exact] = tested[0].specifier
        assert exact.operator == "==" and wanted.specifier.contains(exact.version), line
    onnxscript = requirements.Requirement(next(
        r for r in PROJECT["optional-dependencies"]["export"] if r.startswith("onnxscript")))
    # Before 0.7.1 onnxscript exported a GRU silently wrong.
    assert not onnxscript.specifier.contains("0.7.0") and onnxscript.specifier.contains("0.7.1")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_installs_the_tested_versions_and_lints_without_torch() -> None:
    def recipe(target: str) -> list[str]:
        # PYTHON given on the command line: the recipes as written, whatever the caller's PYTHON.
        done = subprocess.run(["make", "-n", "-B", target, "PYTHON=python3"], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    installs = [line for line in recipe("install") if "pip install" in line and " -e " in line]
    assert installs and all("-c constraints.txt" in line for line in installs)
    lint = recipe("lint")
    assert any("ruff check" in line for line in lint)
    assert not any("torch" in line or " -e " in line or re.search(r"(^|\s)\.venv/", line)
                   for line in lint)
