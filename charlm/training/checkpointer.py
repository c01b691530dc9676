"""Saving a run: the checkpoint at --out, the best one so far (--keep-best), and what to tell the
user about them when training stops."""

from __future__ import annotations

from pathlib import Path

from charlm.checkpoint.files import CHECKPOINT_OUTPUT
from charlm.checkpoint.schema import Checkpoint
from charlm.paths import check_replaceable
from charlm.training.lock import LockLost, OutputLock


def best_path(checkpoint: Path) -> Path:
    """Where --keep-best keeps the best checkpoint: model.pt → model.best.pt."""
    if not checkpoint.name:  # --out "." names a directory, which the run refuses at its start
        return checkpoint
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


def check_output_path(path: Path, force: bool) -> None:
    """Refuse, before any work, to replace a file at a checkpoint path (already checked to be
    a writable file path) unless it is an earlier checkpoint and `force` is given."""
    check_replaceable(path, "--out", CHECKPOINT_OUTPUT, force)
