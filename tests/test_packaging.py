"""The version is written once, in charlm/__init__.py, and the package reads it from there."""

from __future__ import annotations

import pytest
from training import ROOT
from typer.testing import CliRunner

import charlm
from charlm.cli import app


def test_the_version_has_one_source() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "charlm.__version__"}
    result = CliRunner().invoke(app, ["--version"])
    assert result.stdout.strip() == f"charlm {charlm.__version__}"
