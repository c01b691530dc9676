from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from corpora import write_corpus  # noqa: E402

# Tests run with one thread: they are small, and CI machines have few cores.
torch.set_num_threads(1)


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture(autouse=True)
def _no_charlm_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no charlm or tutorial variables from the shell that runs them."""
    import os

    from charlm.options import ENV_PREFIX

    tutorial = {"LEARNING_RATE", "VOCABULARY_SIZE", "EMBEDDING_DIM", "HIDDEN_DIM", "NEPOCH",
                "MODEL_OUTPUT_FILE", "INPUT_DATA_FILE", "PRINT_EVERY"}
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in tutorial:
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prepared corpora are cached in a directory of the test's own, never in the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# A tiny model trained once per test session, validated on a separate file (--valid), shared by
# the tests of evaluate, info, plot and sampling.
TINY_MODEL = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
              "--batch-size", "32", "--samples", "1", "--seed", "7", "--learning-rate", "0.01"]


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """{"checkpoint", "train", "valid", "metrics"}: paths and the run's metrics records."""
    import json

    from typer.testing import CliRunner

    from charlm.cli import app

    root = tmp_path_factory.mktemp("trained")
    train_file = write_corpus(root / "train.txt", sentences=400, seed=0)
    valid_file = write_corpus(root / "valid.txt", sentences=60, seed=1)
    checkpoint = root / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(train_file), "--valid", str(valid_file), "-o", str(checkpoint),
        "--epochs", "3", "--print-every", "200", *TINY_MODEL,
    ])
    assert result.exit_code == 0, result.output
    metrics_file = root / "model.pt.metrics.jsonl"
    metrics = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    return {"checkpoint": checkpoint, "train": train_file, "valid": valid_file,
            "metrics": metrics, "metrics_file": metrics_file}
