from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from charlm.distribution import install_hint

sys.path.insert(0, str(Path(__file__).parent))

from helpers.corpora import write_corpus  # noqa: E402
from helpers.training import CHILD_SITE  # noqa: E402

# Tests run with one thread: they are small, and CI machines have few cores.
torch.set_num_threads(1)


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


TUTORIAL_VARIABLES = {"LEARNING_RATE", "VOCABULARY_SIZE", "EMBEDDING_DIM", "HIDDEN_DIM", "NEPOCH",
                      "MODEL_OUTPUT_FILE", "INPUT_DATA_FILE", "PRINT_EVERY"}


def isolate(monkeypatch: pytest.MonkeyPatch, cache_root: Path) -> None:
    """No charlm or tutorial variables from the shell that runs the tests, prepared corpora
    cached in a directory of the tests' own, the CPU for every command that does not ask for a
    device (CPU figures are compared exactly, and torchrun ranks must not share a GPU), and no
    NLTK data installed on the machine, here or in the processes the tests start: an installed
    punkt_tab splits sentences otherwise. A test that provides NLTK data of its own sets
    nltk.data.path, or NLTK_DATA for a process it starts."""
    import nltk.data

    from charlm.options import ENV_PREFIX
    from charlm.training.ranks import TASK_LAUNCHERS

    # Tests run inside a multi-task launcher step (srun, mpirun) still train as one process.
    launcher_variables = {count for count, _, _ in TASK_LAUNCHERS}
    for name in list(os.environ):
        if (name.startswith(ENV_PREFIX) or name in TUTORIAL_VARIABLES
                or name in launcher_variables):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_root))
    monkeypatch.setenv("CHARLM_DEVICE", "cpu")
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.setenv("PYTHONPATH", first_on_pythonpath(CHILD_SITE))


def first_on_pythonpath(folder: Path) -> str:
    """PYTHONPATH with `folder` first, and only once however often the tests isolate."""
    others = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
              if entry and entry != str(folder)]
    return os.pathsep.join([str(folder), *others])


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same isolation for session- and module-scoped fixtures, which start before any
    function-scoped one."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory.mktemp("session-cache"))
        yield


@pytest.fixture(autouse=True)
def _isolated_test(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test starts clean again, with a cache of its own."""
    isolate(monkeypatch, tmp_path_factory.mktemp("cache"))


# What each of charlm's optional extras (pyproject.toml) installs that its tests import.
EXTRA_MODULES = {"export": ("onnx", "onnxruntime", "onnxscript"), "plot": ("matplotlib",),
                 "tensorboard": ("tensorboard",), "ngram": ("kenlm",)}


@functools.cache
def missing_modules(extra: str) -> tuple[str, ...]:
    return tuple(name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` need a CUDA GPU, and tests marked `extra(NAME)` the modules of that
    optional extra; without them they are skipped. A test's own `extra()`, with no name,
    overrides its module's: it runs without the extra."""
    skip_gpu = None if torch.cuda.is_available() else pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if skip_gpu is not None and "gpu" in item.keywords:
            item.add_marker(skip_gpu)
        extras = item.get_closest_marker("extra")
        for extra in extras.args if extras is not None else ():
            if missing_modules(extra):
                item.add_marker(pytest.mark.skip(
                    reason=f"needs the {extra} extra ({', '.join(missing_modules(extra))} not "
                           f"installed): {install_hint(extra)}"))


# A tiny model trained once per test session, validated on a separate file (--valid), shared by
# the tests of evaluate, info, plot and sampling.
TINY_MODEL = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
              "--batch-size", "32", "--samples", "1", "--seed", "7", "--learning-rate", "0.01"]


def train_tiny_model(root: Path, epochs: int, *flags: str) -> dict:
    """Train the tiny model in `root` on a generated corpus, validated on a separate file.
    {"checkpoint", "train", "valid", "metrics", "metrics_file", "stdout"}: paths, the metrics
    records and what the run printed."""
    import json

    from typer.testing import CliRunner

    from charlm.cli import app

    train_file = write_corpus(root / "train.txt", sentences=400, seed=0)
    valid_file = write_corpus(root / "valid.txt", sentences=60, seed=1)
    checkpoint = root / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(train_file), "--valid", str(valid_file), "-o", str(checkpoint),
        "--epochs", str(epochs), "--print-every", "200", *TINY_MODEL, *flags,
    ])
    assert result.exit_code == 0, result.output
    metrics_file = root / "model.pt.metrics.jsonl"
    metrics = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    return {"checkpoint": checkpoint, "train": train_file, "valid": valid_file,
            "metrics": metrics, "metrics_file": metrics_file, "stdout": result.stdout}


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return train_tiny_model(tmp_path_factory.mktemp("trained"), 3)
