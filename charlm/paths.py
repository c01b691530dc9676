"""Files on disk: what a path names, whether charlm may read or write it, and writing a file so
that a crash at any moment leaves the old file or the new one, never part of either.

Every file charlm writes at a path the user chose goes through `write_atomically` (or
`StagedFile`, for several files that must be complete before any is replaced): a hidden
temporary file beside the destination, named after the host and process that write it, is
written, flushed to disk, renamed over the destination, and the rename itself flushed. A path
is checked before any work: a named pipe or a device is never opened (reading one can wait
forever), a directory is never taken for a file nor a file for a directory, a file this run
reads is never a destination, and an existing file is replaced only where its writer recognises
it as its own earlier output and --force says so.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from charlm.errors import CharlmError

TEMPORARY_MARK = ".tmp-"
# A process on another machine cannot be asked whether it still runs: its temporary file is
# judged abandoned only when it has not changed for this long (a save takes seconds).
FOREIGN_TEMPORARY_STALE_S = 24 * 3600
FILE = "a file"  # a regular file
DIRECTORY = "a directory"


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
    """Where a write is staged: hidden, never ending as the destination does (a staged
    checkpoint is never taken for one), and named after the host and process that write it."""
    return path.with_name(f".{path.name}{TEMPORARY_MARK}{host_name()}-{os.getpid()}")


def _abandoned(owner: str, modified: float) -> bool:
    """Whether a temporary file whose name ends in `owner` (HOST-PID, or PID as charlm 0.1.0
    named them) belongs to a write that can no longer finish."""
    host, _, pid = owner.rpartition("-")
    if not pid.isdigit():
        return False
    if host and host != host_name():
        return time.time() - modified > FOREIGN_TEMPORARY_STALE_S
    return int(pid) != os.getpid() and not process_alive(int(pid))


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files left beside `path` by writes whose process was killed."""
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


def sync_file(path: Path) -> None:
    """Flush a closed file's data to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_directory(directory: Path) -> None:
    """Flush a directory's entries (a rename, a new file) to the disk, where it can be."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename still happened
    finally:
        os.close(descriptor)


class StagedFile:
    """A file written under a temporary name beside `destination` (`path`), which `commit`
    puts in the destination's place; leaving the `with` block without a commit deletes it,
    whatever stopped the write (an error, a signal)."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.path = temporary_path(destination)

    def __enter__(self) -> StagedFile:
        remove_stale_temporaries(self.destination)
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)

    def commit(self) -> None:
        """Flush the complete temporary file, rename it over the destination, flush the rename."""
        sync_file(self.path)
        os.replace(self.path, self.destination)
        sync_directory(self.destination.parent)


def write_atomically(destination: Path, write: Callable[[Path], None]) -> None:
    """Replace `destination` with the file that `write` writes at the path it is given; an
    OSError (or anything else `write` raises) leaves the destination as it was."""
    with StagedFile(destination) as staged:
        write(staged.path)
        staged.commit()


def cannot_read(path: str | Path, error: Exception) -> str:
    """The line that says a file could not be read, and why: the system's reason (Permission
    denied) without the path it repeats, or the reader's (a damaged .gz file)."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"cannot read {path}: {reason or type(error).__name__}"


def what_is(path: Path) -> str | None:
    """What a path names, in words ("a file", "a directory", "a named pipe (FIFO)"...), or
    None when nothing is there (a symbolic link counts as what it points to)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise CharlmError(cannot_read(path, error)) from None
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIRECTORY
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def check_input(path: Path, what: str, error: type[CharlmError] = CharlmError,
                directories: bool = False) -> None:
    """Refuse, before it is opened, an existing path that is not a regular file (nor, with
    `directories`, a directory): `what` is the kind of file wanted ("checkpoint"). A missing
    path is left to the caller, whose message says what was looked for."""
    kind = what_is(path)
    if kind in (None, FILE) or (directories and kind == DIRECTORY):
        return
    if kind == DIRECTORY:
        raise error(f"{path} is a directory, not a {what} file")
    wanted = f"a {what} file or directory" if directories else f"a {what} file"
    raise error(f"{path} is {kind}, not {wanted}: give a regular file"
                + (" or a directory of them" if directories else ""))


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


def check_file_destination(path: Path, flag: str) -> None:
    """Refuse, before any work, a path where no file can be written: a directory, a named pipe
    or device, or a directory that is missing, not a directory or not writable. `flag` is the
    setting that gave the path."""
    directory = path.parent
    above = what_is(directory)
    if above is not None and above != DIRECTORY:
        raise CharlmError(f"cannot write {path}: {directory} is {above}, not a directory; "
                          f"choose another {flag}")
    if not directory.is_dir():
        raise CharlmError(f"cannot write {path}: directory {directory} does not exist; create it "
                          f"or choose another {flag}")
    kind = what_is(path)
    if kind == DIRECTORY:
        raise CharlmError(f"{path} is a directory; give a file name with {flag}")
    if not _writable(directory):
        raise CharlmError(f"cannot write {path}: directory {directory} is not writable; choose "
                          f"another {flag}")
    if kind not in (None, FILE):
        raise CharlmError(f"{flag} {path} is {kind}, not a file; choose another {flag}")


def check_directory_destination(path: Path, flag: str) -> None:
    """Refuse, before any work, a path where a directory is wanted but something else is
    there, or where none can be created (under a file)."""
    kind = what_is(path)
    if kind is not None and kind != DIRECTORY:
        raise CharlmError(f"{flag} {path} is {kind}, not a directory; choose another directory")
    if kind is None:
        above = next((parent for parent in path.parents if what_is(parent) is not None), None)
        if above is not None and what_is(above) != DIRECTORY:
            raise CharlmError(f"cannot create {flag} {path}: {above} is {what_is(above)}, not a "
                              "directory; choose another directory")


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file (however spelled, through a symbolic or hard link)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def check_not_read(path: Path, flag: str, reading: Iterable[tuple[str, Path]]) -> None:
    """Refuse a destination that is a file this run reads; `reading` holds each file read,
    with what it is ("the corpus")."""
    for what, source in reading:
        if same_file(path, source):
            spelled = "" if str(source) == str(path) else f" ({source})"
            raise CharlmError(f"{flag} {path} is {what}{spelled}, which this run reads; choose "
                              f"another {flag}")


@dataclass(frozen=True)
class OwnOutput:
    """What a writer writes, and how it recognises its own earlier output: the only existing
    file it replaces, and that only with --force."""

    noun: str
    """What the output is, with its article: "a charlm checkpoint"."""
    recognise: Callable[[Path], bool]
    """Whether an existing regular file is an earlier output of this kind."""


def check_replaceable(path: Path, flag: str, own: OwnOutput, force: bool) -> None:
    """Refuse to replace an existing file unless it is an earlier output of `own`'s kind and
    `force` is given; a file of any other kind is never replaced."""
    if not path.exists():
        return
    if not own.recognise(path):
        raise CharlmError(f"{path} exists and is not {own.noun}; it is never replaced, not even "
                          f"with --force: move it away or choose another {flag}")
    if not force:
        raise CharlmError(f"{path} already holds {own.noun}; pass --force to overwrite it or "
                          f"choose another {flag}")


def check_destination(path: Path, flag: str, own: OwnOutput, force: bool,
                      reading: Iterable[tuple[str, Path]] = ()) -> None:
    """Every check of a file destination: where it is, what it would replace, what it reads."""
    check_file_destination(path, flag)
    check_not_read(path, flag, reading)
    check_replaceable(path, flag, own, force)
