"""Checkpoint files: one file of tensors and plain Python values, written atomically.

A checkpoint is saved to a hidden temporary file beside its destination, flushed to disk and then
renamed over the destination, so a crash at any moment leaves either the old file or the new one.
It is loaded only with `torch.load(weights_only=True)` and `map_location="cpu"`, so a checkpoint
saved on a GPU loads on a CPU-only machine, and a file whose pickle would run code is refused,
never executed.

Test hook: when the environment variable CHARLM_TEST_PAUSE_BEFORE_RENAME holds a number of
seconds, each save sleeps that long after the temporary file is complete and before the rename,
so tests can kill or interrupt a process in the middle of a save.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from charlm.errors import CheckpointError

FORMAT = "charlm"
FORMAT_VERSION = 1
PAUSE_BEFORE_RENAME_ENV = "CHARLM_TEST_PAUSE_BEFORE_RENAME"
TEMPORARY_MARK = ".tmp-"
# A process on another machine cannot be asked whether it still runs: its temporary file is
# judged abandoned only when it has not changed for this long (a save takes seconds).
FOREIGN_TEMPORARY_STALE_S = 24 * 3600


def host_name() -> str:
    """This machine's name, which tells processes apart on a shared file system."""
    return socket.gethostname() or "localhost"


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def temporary_path(path: Path) -> Path:
    """Where a save is staged: hidden, not ending in .pt (never taken for a checkpoint), and
    named after the host and process that write it."""
    return path.with_name(f".{path.name}{TEMPORARY_MARK}{host_name()}-{os.getpid()}")


def _abandoned(owner: str, modified: float) -> bool:
    """Whether a temporary file whose name ends in `owner` (HOST-PID, or PID as charlm 0.1.0
    named them) belongs to a save that can no longer finish."""
    host, _, pid = owner.rpartition("-")
    if not pid.isdigit():
        return False
    if host and host != host_name():
        return time.time() - modified > FOREIGN_TEMPORARY_STALE_S
    return int(pid) != os.getpid() and not process_alive(int(pid))


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files left beside `path` by saves whose process was killed."""
    prefix = f".{path.name}{TEMPORARY_MARK}"
    if not path.parent.is_dir():
        return
    for leftover in path.parent.glob(f"{prefix}*"):
        try:
            modified = leftover.stat().st_mtime
        except OSError:
            continue
        if _abandoned(leftover.name[len(prefix):], modified):
            leftover.unlink(missing_ok=True)


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


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Atomically write `payload` (tensors and plain values) to `path`."""
    path = Path(path)
    staged = temporary_path(path)
    document = {"format": FORMAT, "format_version": FORMAT_VERSION} | payload
    remove_stale_temporaries(path)
    try:
        with open(staged, "wb") as handle:
            writer = _WriteErrors(handle)
            try:
                torch.save(document, writer)  # type: ignore[arg-type]
            except RuntimeError:
                if writer.error is not None:
                    raise writer.error from None
                raise
            handle.flush()
            os.fsync(handle.fileno())
        pause = os.environ.get(PAUSE_BEFORE_RENAME_ENV)
        if pause:
            time.sleep(float(pause))
        os.replace(staged, path)
    except (OSError, RuntimeError) as error:
        # torch.save reports a failed write (a full disk) as a RuntimeError of its own.
        staged.unlink(missing_ok=True)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else (
            str(error).splitlines()[0][:80] if str(error) else type(error).__name__)
        raise CheckpointError(
            f"could not save the checkpoint {path}: {reason}; any previous checkpoint there is "
            "intact; free some disk space or choose another --out"
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
    # charlm always writes PyTorch's zip format; anything else (text, legacy pickles) is not ours.
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            zip_start = handle.read(4) == b"PK\x03\x04"
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
