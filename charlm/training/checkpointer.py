"""Saving a run: the checkpoint at --out, the best one so far (--keep-best), and what to tell the
user about them when training stops."""

from __future__ import annotations

import os
from pathlib import Path

from charlm.checkpoint.files import is_checkpoint
from charlm.checkpoint.schema import Checkpoint
from charlm.errors import CharlmError
from charlm.training.lock import LockLost, OutputLock


def best_path(checkpoint: Path) -> Path:
    """Where --keep-best keeps the best checkpoint: model.pt → model.best.pt."""
    return checkpoint.with_name(f"{checkpoint.stem}.best{checkpoint.suffix or '.pt'}")


class Checkpointer:
    """Owns the run's checkpoint files and which step they hold; writes them only while the
    output path's lock (held by rank 0, the one that saves) is this run's."""

    def __init__(self, out: Path, best: Path | None, resume_command: str,
                 lock: OutputLock | None = None, saved_step: int = -1) -> None:
        self.out = out
        self.best = best
        self.resume_command = resume_command
        self.lock = lock
        self.saved_step = saved_step  # the step the file at `out` holds; -1: none of this run
        self.saves = 0

    def check_lock(self, step: int) -> None:
        """Stop, writing nothing, once another run holds the output path's lock: its files are
        that run's now. Asked before each of the run's writes."""
        lost = self.lock.lost() if self.lock is not None else None
        if lost is None:
            return
        raise LockLost(f"{lost}; stopped at step {step} without writing, to leave that run's "
                       f"files alone; make sure one run at a time writes {self.out}, then resume "
                       f"with: {self.resume_command}")

    def save(self, checkpoint: Checkpoint, step: int, improved: bool) -> bool:
        """Save `checkpoint` of `step` to --out, and to the best path when it improved on the
        best; returns whether the best one was saved."""
        self.check_lock(step)
        checkpoint.save(self.out)
        self.saved_step = step
        self.saves += 1
        if self.best is None or not improved:
            return False
        checkpoint.save(self.best)
        return True

    def kept(self) -> str:
        """What is safe on disk, for a message about a failure."""
        if self.saved_step < 0:
            return "no checkpoint was saved yet"
        return f"the last good checkpoint {self.out} (step {self.saved_step}) is kept"

    def stop_message(self) -> str:
        """What a second signal, which stops at once, leaves behind."""
        if self.saves == 0:
            return f"interrupted, stopped at once; {self.kept()}"
        return (f"interrupted again, stopped at once; the checkpoint {self.out} (step "
                f"{self.saved_step}) is intact; resume with: {self.resume_command}")


def _writable(directory: Path) -> bool:
    """Whether a file can be created in `directory` (tried, since os.access is wrong for root)."""
    if not os.access(directory, os.W_OK):
        return False
    probe = directory / f".charlm-write-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink(missing_ok=True)
    return True


def check_output_path(path: Path, force: bool) -> None:
    """Refuse, before any work, an output path that cannot be written or would lose a file."""
    directory = path.parent
    if directory.exists() and not directory.is_dir():
        raise CharlmError(f"cannot write {path}: {directory} is a file, not a directory; choose "
                          "another --out")
    if not directory.is_dir():
        raise CharlmError(f"cannot write {path}: directory {directory} does not exist; create it "
                          "or choose another --out")
    if not _writable(directory):
        raise CharlmError(f"cannot write {path}: directory {directory} is not writable; choose "
                          "another --out")
    if path.is_dir():
        raise CharlmError(f"{path} is a directory; give a file name with --out")
    if path.exists() and not force:
        if is_checkpoint(path):
            raise CharlmError(f"{path} already holds a checkpoint; pass --force to overwrite it "
                              "or choose another --out")
        raise CharlmError(f"{path} exists and is not a charlm checkpoint; pass --force to "
                          "overwrite it or choose another --out")
