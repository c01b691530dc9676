"""charlm: train word-level GRU/LSTM language models on your own text.

The Python API (charlm/api.py) loads on first use, so `import charlm` stays light and the
command's help never waits for torch:

    import charlm
    model = charlm.load("model.pt")
    model.generate(3, seed=1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The version, the distribution's name and the install hints are written in
# charlm/distribution.py, which the modules inside charlm import; `charlm` serves them too.
from charlm.distribution import DISTRIBUTION, __version__, install_hint  # noqa: F401
from charlm.errors import CharlmError, CharlmWarning, CheckpointError, ConfigError, CorpusError

# Names served by charlm.api, imported (with torch) when first asked for.
_API = ("load", "Model", "train", "reports", "Report", "TrainResult", "SentenceScore",
        "Evaluation", "Generation", "GeneratedSentence", "NgramModel", "NgramMix", "Rescoring")

__all__ = ["CharlmError", "CharlmWarning", "CheckpointError", "ConfigError", "CorpusError",
           "__version__", *_API]

if TYPE_CHECKING:
    from charlm.api import (  # noqa: F401
        Evaluation,
        GeneratedSentence,
        Generation,
        Model,
        NgramMix,
        NgramModel,
        Report,
        Rescoring,
        SentenceScore,
        TrainResult,
        load,
        reports,
        train,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from charlm import api

        return getattr(api, name)
    raise AttributeError(f"module 'charlm' has no attribute {name!r}")
