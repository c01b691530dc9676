"""The settings of `charlm export`, apart from the export itself so that they load (for --help and
shell completion) without torch, numpy or ONNX."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from charlm.errors import ConfigError
from charlm.options import option


@dataclass
class ExportConfig:
    """Settings of `charlm export`."""

    COMMAND = "export"

    model: str | None = option(None, "Checkpoint to export.", argument=True)
    out: str | None = option(
        None,
        "ONNX file to write. Default: the checkpoint's name with the suffix .onnx. The "
        "vocabulary and tokenizer settings are written beside it, as <out>.json.",
        short="-o",
    )
    force: bool = option(
        False, "Overwrite an earlier export at the output paths; any other file is never "
        "replaced."
    )

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm export MODEL.pt")

    @property
    def onnx_path(self) -> Path:
        return Path(self.out) if self.out else Path(str(self.model)).with_suffix(".onnx")
