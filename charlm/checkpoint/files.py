"""Checkpoint files: one file of tensors and plain Python values, written atomically.

A checkpoint is saved through charlm.paths.write_atomically: a hidden temporary file beside its
destination, flushed to disk and then renamed over the destination, so a crash at any moment
leaves either the old file or the new one. It is loaded only with `torch.load(weights_only=True)`
and `map_location="cpu"`, so a checkpoint saved on a GPU loads on a CPU-only machine, and a file
whose pickle would run code is refused, never executed.
"""

from __future__ import annotations

import pickle
import zipfile
from functools import partial
from pathlib import Path
from typing import Any

import torch

from charlm.errors import CheckpointError, first_line
from charlm.paths import OwnOutput, cannot_read, check_input, write_atomically

FORMAT = "charlm"
FORMAT_VERSION = 1


class _WriteErrors:
    """A file wrapper that remembers the OSError of a failed write: torch.save reports one only
    as a RuntimeError of its own, which would hide a full disk."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def _write_document(document: dict[str, Any], staged: Path) -> None:
    with open(staged, "wb") as handle:
        writer = _WriteErrors(handle)
        try:
            torch.save(document, writer)  # type: ignore[arg-type]
        except RuntimeError:
            if writer.error is not None:
                raise writer.error from None
            raise


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Atomically write `payload` (tensors and plain values) to `path`."""
    path = Path(path)
    document = {"format": FORMAT, "format_version": FORMAT_VERSION} | payload
    try:
        write_atomically(path, partial(_write_document, document))
    except (OSError, RuntimeError) as error:
        # torch.save reports a failed write (a full disk) as a RuntimeError of its own.
        reason = error.strerror if isinstance(error, OSError) and error.strerror else (
            first_line(error) or type(error).__name__)
        raise CheckpointError(
            f"could not save the checkpoint {path}: {reason}; any previous checkpoint there is "
            "intact; free some disk space or choose another --out"
        ) from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint, refusing anything that is not a readable charlm checkpoint."""
    path = Path(path)
    check_input(path, "checkpoint", CheckpointError)  # never opens a named pipe or a device
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with open(path, "rb") as handle:
            zip_start = handle.read(4) == b"PK\x03\x04"
    except OSError as error:
        raise CheckpointError(cannot_read(path, error)) from None
    # charlm always writes PyTorch's zip format; anything else (text, legacy pickles) is not ours.
    if not zipfile.is_zipfile(path):
        if zip_start:
            raise CheckpointError(f"{path} is not a charlm checkpoint (it is truncated or damaged: "
                                  "its end is missing); use an earlier copy or train again")
        raise CheckpointError(f"{path} is not a charlm checkpoint (not a PyTorch file)")
    try:
        document = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"{path} is not a charlm checkpoint (not a PyTorch file)"
            ) from None
        raise CheckpointError(
            f"{path} was refused: it holds objects other than tensors and plain values, which "
            "could run code when loaded; only load checkpoints written by charlm"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as error:
        reason = "it is truncated or damaged" if zipfile.is_zipfile(path) else "unreadable"
        raise CheckpointError(
            f"{path} is not a charlm checkpoint ({reason}: {first_line(error)})"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a charlm checkpoint (it was not written by charlm)")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, newer than this charlm reads "
            f"(up to {FORMAT_VERSION}): upgrade charlm to load it"
        )
    return document


def is_checkpoint(path: str | Path) -> bool:
    try:
        load_checkpoint(path)
    except CheckpointError:
        return False
    return True


# What `charlm train --out` replaces, and only with --force: an earlier checkpoint.
CHECKPOINT_OUTPUT = OwnOutput("a charlm checkpoint", is_checkpoint)
