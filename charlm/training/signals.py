"""Ctrl-C and SIGTERM during training: finish the step, save, and say how to resume.

While training steps run, the first SIGINT or SIGTERM only records the request; the training loop
sees it after the current step, saves a checkpoint and stops. Any other signal of the two (a second
Ctrl-C, or one before training has started) stops at once by raising `Interrupted`, which unwinds
through an atomic save without leaving a half-written file.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from charlm.errors import CharlmError

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(CharlmError):
    """Training stopped on a signal; exits 128 + the signal number (130, 143) as shells expect."""

    prefix = "Stopped"

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class InterruptGuard:
    """Records SIGINT/SIGTERM while `deferring`; otherwise stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferring = False
        self.previous: dict[int, Any] = {}  # the handlers the guard replaced, while installed
        # What stopping at once leaves behind; the training loop gives its checkpointer's word.
        self.describe_stop: Callable[[], str] = lambda: (
            "interrupted before training started; nothing was saved")

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.deferring and self.signum is None:
            self.signum = signum
            _note(f"{signal_name(signum)} received: stopping after this step with a checkpoint; "
                  "send it again to stop at once")
            return
        self.deferring = False
        raise Interrupted(signum, f"{signal_name(signum)}: {self.describe_stop()}")


    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Give the signals back to the handlers before the guard for the block: while the
        caller of the training loop runs its own code, Ctrl-C interrupts that code."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig in self.previous:
                signal.signal(sig, self.handle)


def _note(text: str) -> None:
    """A line on stderr, written straight to the descriptor: a signal handler may run while
    the main thread is inside a buffered write to the same stream."""
    try:
        os.write(2, f"{text}\n".encode())
    except OSError:
        pass


@contextmanager
def catch_interrupts() -> Iterator[InterruptGuard]:
    """Install the guard's handlers for the block, restoring the previous ones after."""
    guard = InterruptGuard()
    # Signal handlers can only be set from the main thread; elsewhere signals keep their defaults.
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    guard.previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, guard.handle)
    try:
        yield guard
    finally:
        for sig, handler in guard.previous.items():
            signal.signal(sig, handler)
