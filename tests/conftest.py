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

    from charlm.config import ENV_PREFIX

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
