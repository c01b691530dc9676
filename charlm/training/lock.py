"""One run at a time per checkpoint path: a lock file beside --out.

Two runs writing the same --out (two array tasks given the same name, a requeued job whose first
run still goes on) would overwrite each other's checkpoint and metrics. The first takes the lock
`.<out name>.lock`, created atomically, holding its host and process id; a second is refused at
start with one line naming them. While the run lives, a thread touches the lock file every
HEARTBEAT_S seconds. A lock left by a run that died is taken over, with a warning. On this host
the process decides: a lock whose process has ended is taken over at once, and one whose process
lives is kept whatever its heartbeat's age (a suspended job, stopped by SIGSTOP, beats no more but
will go on). A process on another machine cannot be asked: its lock is taken over after
STALE_AFTER_S seconds without a heartbeat.

A run may still lose its lock (taken over by a run on another host that judged it dead, or the
file removed): before each save it asks `lost`, and once the lock is another's it writes nothing
more, and its heartbeat stops touching the other run's lock.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from charlm.errors import CharlmError
from charlm.paths import host_name, process_alive

HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
# A lock file read between its creation and its first write holds nothing yet.
UNREADABLE_RETRIES = 10


class LockLost(CharlmError):
    """The output path's lock is no longer this run's: it must not write there any more."""


def lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


class OutputLock:
    """Holds the lock of one --out path from `acquire` to `release`."""

    def __init__(self, out: Path, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.out = out
        self.heartbeat_s = heartbeat_s
        self.token = uuid.uuid4().hex
        self.held = False  # whether acquire took the lock (a failed acquire takes none)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def path(self) -> Path:
        """The lock file: named after --out, which is checked to name a file before the lock
        is taken."""
        return lock_path(self.out)

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
            self.held = True
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

    def lost(self) -> str | None:
        """Why the lock is no longer this run's (another run holds it, or its file is gone), or
        None while it is, or when no lock was taken."""
        if not self.held:
            return None
        holder, raw, _ = self._holder()
        if raw is None:
            return f"the lock file {self.path} of {self.out} was removed while this run trained"
        if holder is not None and holder.get("token") == self.token:
            return None
        return (f"{_describe(holder)} took over {self.out} while this run trained (lock: "
                f"{self.path})")

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self._touch_if_own():
                return

    def _touch_if_own(self) -> bool:
        """Touch the lock file while it holds this run's token; False once it does not. The
        file read is the one touched, so a lock another run put in its place stays untouched."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # unreadable for now: try again at the next beat
        with os.fdopen(descriptor, "rb") as handle:
            try:
                holder = _parse(handle.read())
                if holder is None or holder.get("token") != self.token:
                    return False
                os.utime(handle.fileno())
            except OSError:
                pass
        return True

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
                              f"--out (lock: {self.path}){_reused_id_advice(holder, age)}")
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
    pid = _local_pid(holder)
    if pid is not None:
        # This very process holds no lock it does not know of: its id was reused.
        if pid == os.getpid() or not process_alive(pid):
            return "which is no longer running"
        return None  # alive here: suspended, perhaps, but not dead
    if age > STALE_AFTER_S:
        return f"whose heartbeat stopped {age:.0f} s ago"
    return None


def _local_pid(holder: dict[str, Any] | None) -> int | None:
    """The process id of a lock held on this host, None for another host's or an unreadable one."""
    if holder is None or holder.get("host") != host_name():
        return None
    pid = holder.get("pid")
    return pid if isinstance(pid, int) else None


def _reused_id_advice(holder: dict[str, Any] | None, age: float) -> str:
    """For a live process of this host whose heartbeat stopped: its id may have been reused."""
    pid = _local_pid(holder)
    if pid is None or age <= STALE_AFTER_S:
        return ""
    return (f"; a suspended run keeps its lock, but if process {pid} is no charlm run, delete "
            "the lock")


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another run (its lock file is unreadable)"
    return (f"process {holder.get('pid')} on host {holder.get('host')} (started "
            f"{holder.get('started')})")
