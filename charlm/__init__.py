"""charlm: train word-level GRU/LSTM language models on your own text.

The Python API (charlm/api.py) loads on first use, so `import charlm` stays light and the
command's help never waits for torch:

    import charlm
    model = charlm.load("model.pt")
    model.generate(3, seed=1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from charlm.errors import CharlmError, CharlmWarning, CheckpointError, ConfigError, CorpusError

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"
# The name charlm is published under (`charlm` on the package index is another project); the
# import package and the command are `charlm`. pyproject.toml's [project] name is this.
DISTRIBUTION = "charlm-rnn"

# Names served by charlm.api, imported (with torch) when first asked for.
_API = ("load", "Model", "train", "reports", "Report", "TrainResult", "SentenceScore",
        "Evaluation", "Generation", "GeneratedSentence")

__all__ = ["CharlmError", "CharlmWarning", "CheckpointError", "ConfigError", "CorpusError",
           "__version__", *_API]

if TYPE_CHECKING:
    from charlm.api import (  # noqa: F401
        Evaluation,
        GeneratedSentence,
        Generation,
        Model,
        Report,
        SentenceScore,
        TrainResult,
        load,
        reports,
        train,
    )


def install_hint(extra: str) -> str:
    """How to install one of charlm's optional extras, for messages and help."""
    return (f"pip install '{DISTRIBUTION}[{extra}]' (from a checkout: "
            f"pip install -e '.[{extra}]')")


def __getattr__(name: str) -> Any:
    if name in _API:
        from charlm import api

        return getattr(api, name)
    raise AttributeError(f"module 'charlm' has no attribute {name!r}")
