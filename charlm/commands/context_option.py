"""The --context flag of the commands that read text with a trained model, declared once."""

from __future__ import annotations

from typing import Any

from charlm.data.settings import CONTEXTS
from charlm.options import option


def context_option(reads: str) -> Any:
    """--context for a command that `reads` (what it does with each sentence, in words)."""
    return option(
        None,
        f"What each sentence is {reads} after: document (everything before it in its document, "
        "a file or a CSV row) or sentence (nothing). Default: as the model was trained.",
        choices=CONTEXTS,
    )
