"""One run at a time per checkpoint path: a lock file beside --out.

Two runs writing the same --out (two array tasks given the same name, a requeued job whose first
run still goes on) would overwrite each other's checkpoint and metrics. The first takes the lock
`.<out name>.lock`, created atomically, holding its host and process id; a second is refused at
start with one line naming them. While the run lives, a thread touches the lock file every
HEARTBEAT_S seconds. A lock left by a run that died is taken over, with a warning: at once when
its process, on this host, has ended; after STALE_AFTER_S seconds without a heartbeat otherwise
(a process on another machine cannot be asked, and process ids are reused).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from charlm.checkpoint.files import host_name, process_alive
from charlm.errors import CharlmError

HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
# A lock file read between its creation and its first write holds nothing yet.
UNREADABLE_RETRIES = 10


def lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


class OutputLock:
    """Holds the lock of one --out path from `acquire` to `release`."""

    def __init__(self, out: Path, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.out = out
        self.heartbeat_s = heartbeat_s
        self.path = lock_path(out)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> str | None:
        """Take the lock; returns a warning when it took over a dead run's lock. A directory
        where no file can be created takes no lock: the output check refuses it next."""
        taken_over = None
        for _ in range(3):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                taken_over = self._take_over_if_dead() or taken_over
                continue
            except OSError:
                return None
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump({"host": host_name(), "pid": os.getpid(), "token": self.token,
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}, handle)
            self._heartbeat = threading.Thread(target=self._beat, name="charlm-lock",
                                               daemon=True)
            self._heartbeat.start()
            return taken_over
        raise CharlmError(f"could not lock {self.out}: other runs keep taking its lock "
                          f"{self.path}; run one at a time or choose another --out")

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file, if it is still this run's."""
        self._stop.set()
        if self._heartbeat is None:
            return
        self._heartbeat.join()
        self._heartbeat = None
        holder = read_holder(self.path)
        if holder is not None and holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def _take_over_if_dead(self) -> str | None:
        """Remove the lock file of a run that died (returning the warning to give), or refuse
        with the run that holds it."""
        holder, raw, age = self._holder()
        if holder is None and raw is None:
            return None  # gone meanwhile: try again
        why = _why_dead(holder, age)
        if why is None:
            raise CharlmError(f"{self.out} is in use by {_describe(holder)}, last heartbeat "
                              f"{age:.0f} s ago; wait for that run to end or choose another "
                              f"--out (lock: {self.path})")
        # Moved aside, not deleted: of two runs taking over at once, one rename succeeds.
        aside = self.path.with_name(f"{self.path.name}.taken-{self.token}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return None
        if aside.read_bytes() != raw:  # another run took it over first: give its lock back
            try:
                os.link(aside, self.path)
            except OSError:
                pass
            aside.unlink(missing_ok=True)
            return None
        aside.unlink(missing_ok=True)
        return f"took over the lock of {self.out} from {_describe(holder)}, {why}"

    def _holder(self) -> tuple[dict[str, Any] | None, bytes | None, float]:
        """The lock file's holder (None when unreadable), its bytes (None when it is gone) and
        the seconds since its last heartbeat."""
        for _ in range(UNREADABLE_RETRIES):
            try:
                raw = self.path.read_bytes()
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return None, None, 0.0
            holder = _parse(raw)
            if holder is not None:
                return holder, raw, age
            time.sleep(0.05)
        return None, raw, age


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        return _parse(path.read_bytes())
    except OSError:
        return None


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        holder = json.loads(raw)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _why_dead(holder: dict[str, Any] | None, age: float) -> str | None:
    """Why the lock's run must have died, or None when it may still run."""
    if age > STALE_AFTER_S:
        return f"whose heartbeat stopped {age:.0f} s ago"
    if holder is None or holder.get("host") != host_name():
        return None
    pid = holder.get("pid")
    # This very process holds no lock it does not know of: its id was reused.
    if isinstance(pid, int) and (pid == os.getpid() or not process_alive(pid)):
        return "which is no longer running"
    return None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another run (its lock file is unreadable)"
    return (f"process {holder.get('pid')} on host {holder.get('host')} (started "
            f"{holder.get('started')})")
