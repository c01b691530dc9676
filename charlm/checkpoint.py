"""Checkpoint files: one file of tensors and plain Python values, written atomically.

A checkpoint is saved to a hidden temporary file beside its destination, flushed to disk and then
renamed over the destination, so a crash at any moment leaves either the old file or the new one.
It is loaded only with `torch.load(weights_only=True)`: a file whose pickle would run code is
refused, never executed.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from charlm.errors import CheckpointError

FORMAT = "charlm"
FORMAT_VERSION = 1


def temporary_path(path: Path) -> Path:
    """Where a save is staged: hidden and not ending in .pt, never taken for a checkpoint."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Atomically write `payload` (tensors and plain values) to `path`."""
    path = Path(path)
    staged = temporary_path(path)
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    try:
        with open(staged, "wb") as handle:
            torch.save(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, path)
    except OSError as error:
        staged.unlink(missing_ok=True)
        raise CheckpointError(
            f"could not save the checkpoint {path}: {error.strerror or error}; "
            "any previous checkpoint there is intact"
        ) from None
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint, refusing anything that is not a readable charlm checkpoint."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:
        document = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is not a charlm checkpoint (not a PyTorch file)") \
                from None
        raise CheckpointError(
            f"{path} was refused: it holds objects other than tensors and plain values, which "
            "could run code when loaded; only load checkpoints written by charlm"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        reason = "it is truncated or damaged" if zipfile.is_zipfile(path) else "unreadable"
        raise CheckpointError(
            f"{path} is not a charlm checkpoint ({reason}: {str(error).splitlines()[0][:80]})"
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
