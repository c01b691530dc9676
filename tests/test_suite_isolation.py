"""The suite's own promise: its shared fixtures (session- and module-scoped, which start before
any function-scoped one) see none of the developer's charlm settings and never write to the
developer's cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from training import ROOT, WAIT_S

# Tests that use the session's trained model and a module's model.
SHARED_FIXTURE_TESTS = ["tests/test_evaluate.py::test_table_output",
                        "tests/test_bad_inputs.py::test_bad_generate_setting"]


def test_shared_fixtures_ignore_the_developers_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHARLM_") and k not in ("XDG_CACHE_HOME", "PYTEST_ADDOPTS")}
    # A developer's shell: settings that would break the fixtures' runs, and a home whose
    # cache the tests must leave alone.
    env |= {"HOME": str(home), "CHARLM_LAYERS": "0", "CHARLM_DEVICE": "cuda",
            "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
         str(tmp_path / "inner"), *SHARED_FIXTURE_TESTS],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not (home / ".cache").exists()
