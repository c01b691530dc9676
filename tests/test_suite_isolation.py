"""The suite's own promise: its shared fixtures (session- and module-scoped, which start before
any function-scoped one) see none of the developer's charlm settings and never write to the
developer's cache, and neither the tests nor the processes they start find NLTK data installed
on the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.training import ROOT, WAIT_S, child_environment

# Tests that use the session's trained model and a module's model, and one that fails where
# NLTK finds a punkt_tab.
SHARED_FIXTURE_TESTS = ["tests/evaluation/test_evaluate.py::test_table_output",
                        "tests/commands/test_bad_inputs.py::test_bad_generate_setting",
                        "tests/data/test_prepare_cache.py::"
                        "test_key_covers_the_csv_column_and_the_sentence_splitter"]
FINDS_PUNKT_TAB = "from charlm.data.tokenizer import punkt_tab_installed; " \
                  "print(punkt_tab_installed())"


def install_punkt_tab(nltk_data: Path) -> Path:
    """Where NLTK finds an installed punkt_tab for English."""
    (nltk_data / "tokenizers" / "punkt_tab" / "english").mkdir(parents=True)
    return nltk_data


def test_shared_fixtures_ignore_the_developers_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    install_punkt_tab(home / "nltk_data")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHARLM_") and k not in ("XDG_CACHE_HOME", "PYTEST_ADDOPTS")}
    # A developer's shell: settings that would break the fixtures' runs, a home whose cache the
    # tests must leave alone, and NLTK data installed in that home and where NLTK_DATA says.
    env |= {"HOME": str(home), "CHARLM_LAYERS": "0", "CHARLM_DEVICE": "cuda",
            "PYTHONPATH": str(ROOT), "NLTK_DATA": str(install_punkt_tab(tmp_path / "shared"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
         str(tmp_path / "inner"), *SHARED_FIXTURE_TESTS],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not (home / ".cache").exists()


def test_processes_the_tests_start_find_only_the_nltk_data_a_test_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # NLTK looks in ~/nltk_data by default, as in /usr/share/nltk_data and the like.
    monkeypatch.setenv("HOME", str(install_punkt_tab(tmp_path / "home" / "nltk_data").parent))
    given = install_punkt_tab(tmp_path / "given")
    # A process started with the tests' own environment, or with child_environment's.
    environments = {"inherited": None, "child": child_environment(),
                    "given": child_environment({"NLTK_DATA": str(given)})}
    found = {}
    for name, env in environments.items():
        done = subprocess.run([sys.executable, "-c", FINDS_PUNKT_TAB], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=WAIT_S)
        assert done.returncode == 0, done.stderr
        found[name] = done.stdout.strip()
    assert found == {"inherited": "False", "child": "False", "given": "True"}
