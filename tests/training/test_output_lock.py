"""One run at a time per --out: a second run is refused at start naming the holder; a lock left
by a run that died is taken over with a warning; a run whose lock another run took writes no
more."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from helpers.interrupting import temporaries
from helpers.resuming import one_epoch
from helpers.training import (
    TINY,
    Child,
    child_environment,
    config_of,
    paused_saves_process,
    quiet_reporter,
    tiny_flags,
)
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.console import Reporter
from charlm.training.lock import STALE_AFTER_S, LockLost, OutputLock, lock_path
from charlm.training.loop import run_training
from charlm.training.outputs import metrics_path

__all__ = ["one_epoch"]  # the fixture, shared in helpers.resuming


def resume_auto(corpus: Path, out: Path, epochs: int):
    return CliRunner().invoke(app, ["train", str(corpus), "-o", str(out), "--resume", "auto",
                                    "--epochs", str(epochs), "--print-every", "48", *TINY])


def test_a_second_run_is_refused_until_the_first_dies_then_takes_over(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "job.pt"
    args = ["train", str(corpus_file), "-o", str(out), "--resume", "auto", "--epochs", "1",
            "--print-every", "48", *TINY]
    # The first run holds still in its first save, so it is surely running, and has written
    # nothing yet, when its requeued copy starts.
    with paused_saves_process(args) as first:
        first.wait_until(lambda: bool(temporaries(out)), "the first save")
        second = resume_auto(corpus_file, out, 1)
        assert second.exit_code == 1, second.output
        [line] = second.stderr.strip().splitlines()
        assert line.startswith(f"Error: {out} is in use by process {first.pid} on host "
                               f"{socket.gethostname()}")
        assert not out.exists()
        first.send_signal(signal.SIGKILL)
        first.finish()
    assert lock_path(out).exists()
    third = resume_auto(corpus_file, out, 1)
    assert third.exit_code == 0, third.output
    assert (f"Warning: took over the lock of {out} from process {first.pid} on host "
            f"{socket.gethostname()}") in third.output
    assert "which is no longer running" in third.output
    assert load_checkpoint(out)["progress"]["epoch"] == 1
    assert not lock_path(out).exists()
    assert temporaries(out) == []  # the killed run's half-finished save is cleared away


def write_lock(out: Path, host: str, pid: int, heartbeat_age_s: float,
               token: str = "another-run") -> None:
    lock = lock_path(out)
    lock.write_text(json.dumps({"host": host, "pid": pid, "token": token,
                                "started": "2026-01-01 00:00:00"}))
    beat = time.time() - heartbeat_age_s
    os.utime(lock, (beat, beat))


def lock_from_another_host(out: Path, heartbeat_age_s: float) -> None:
    write_lock(out, "node-elsewhere", os.getpid(), heartbeat_age_s)


def test_another_hosts_lock_holds_while_its_heartbeat_goes_on(
    one_epoch: Path, corpus_file: Path
) -> None:
    lock_from_another_host(one_epoch, heartbeat_age_s=STALE_AFTER_S / 2)
    before = (one_epoch.read_bytes(), lock_path(one_epoch).read_bytes())
    refused = resume_auto(corpus_file, one_epoch, 2)
    assert refused.exit_code == 1
    assert f"in use by process {os.getpid()} on host node-elsewhere" in refused.stderr
    assert (one_epoch.read_bytes(), lock_path(one_epoch).read_bytes()) == before

    lock_from_another_host(one_epoch, heartbeat_age_s=STALE_AFTER_S + 60)
    taken = resume_auto(corpus_file, one_epoch, 2)
    assert taken.exit_code == 0, taken.output
    assert "Warning: took over the lock" in taken.output
    assert "on host node-elsewhere" in taken.output and "whose heartbeat stopped" in taken.output
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 2
    assert not lock_path(one_epoch).exists()


def test_a_held_lock_beats_and_is_removed_on_release(tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    lock = OutputLock(out, heartbeat_s=0.05)
    assert lock.acquire() is None
    old = time.time() - 3600
    os.utime(lock.path, (old, old))
    deadline = time.monotonic() + 10
    while lock.path.stat().st_mtime < time.time() - 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.path.stat().st_mtime > time.time() - 60, "the heartbeat never touched the lock"
    lock.release()
    assert not lock.path.exists()


def test_a_live_process_of_this_host_keeps_its_lock_whatever_its_heartbeat(
    one_epoch: Path, corpus_file: Path
) -> None:
    # Suspended as Slurm suspends a job: alive, but its heartbeat long stopped.
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    with Child(sleeper, child_environment()) as suspended:
        suspended.send_signal(signal.SIGSTOP)
        write_lock(one_epoch, socket.gethostname(), suspended.pid, STALE_AFTER_S * 10)
        before = (one_epoch.read_bytes(), lock_path(one_epoch).read_bytes())
        refused = resume_auto(corpus_file, one_epoch, 2)
        assert refused.exit_code == 1, refused.output
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"Error: {one_epoch} is in use by process {suspended.pid} on "
                               f"host {socket.gethostname()}")
        assert (one_epoch.read_bytes(), lock_path(one_epoch).read_bytes()) == before
        suspended.kill()
    # The same lock once its process has ended: taken over at once.
    taken = resume_auto(corpus_file, one_epoch, 2)
    assert taken.exit_code == 0, taken.output
    assert (f"Warning: took over the lock of {one_epoch} from process {suspended.pid}"
            in taken.output)
    assert "which is no longer running" in taken.output
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 2
    assert not lock_path(one_epoch).exists()


class TakeOverAfterFirstSave(Reporter):
    """After the run's first save, another run takes its lock (or the lock file is removed);
    with `signal_too`, a SIGINT then asks for the save of a signal stop before the next report.
    Keeps the files as they were at the takeover."""

    def __init__(self, out: Path, how: str, signal_too: bool) -> None:
        super().__init__(quiet_reporter().console)
        self.out, self.how, self.signal_too = out, how, signal_too
        self.files_at_takeover: tuple[bytes, bytes] | None = None

    def saved(self, path: str) -> None:
        if self.files_at_takeover is not None:
            return
        if self.how == "removed":
            lock_path(self.out).unlink()
        else:
            write_lock(self.out, "node-elsewhere", 4242, 0.0)
        self.files_at_takeover = (self.out.read_bytes(), metrics_path(self.out).read_bytes())
        if self.signal_too:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize(("how", "signal_too", "said"), [
    ("replaced", False, "process 4242 on host node-elsewhere (started 2026-01-01 00:00:00) "
                        "took over"),
    ("replaced", True, "process 4242 on host node-elsewhere"),
    ("removed", False, "was removed while this run trained"),
], ids=["taken-before-a-report", "taken-before-a-signal-stop", "lock-file-removed"])
def test_a_run_that_lost_its_lock_stops_and_writes_nothing(
    corpus_file: Path, tmp_path: Path, how: str, signal_too: bool, said: str
) -> None:
    out = tmp_path / "run.pt"
    reporter = TakeOverAfterFirstSave(out, how, signal_too)
    with pytest.raises(LockLost) as stopped:
        run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=2,
                                            print_every=48)), reporter)
    message = str(stopped.value)
    assert said in message and "\n" not in message
    assert "without writing" in message
    assert reporter.files_at_takeover == (out.read_bytes(), metrics_path(out).read_bytes())
    assert temporaries(out) == []
    if how == "replaced":  # the other run's lock stays
        assert json.loads(lock_path(out).read_text())["token"] == "another-run"
    else:
        assert not lock_path(out).exists()


def test_the_heartbeat_leaves_a_lock_another_run_took_alone(tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    lock = OutputLock(out, heartbeat_s=0.05)
    assert lock.acquire() is None
    write_lock(out, "node-elsewhere", 4242, heartbeat_age_s=3600)
    taken = lock_path(out).read_bytes(), lock_path(out).stat().st_mtime
    time.sleep(0.5)  # ten heartbeats
    assert (lock_path(out).read_bytes(), lock_path(out).stat().st_mtime) == taken
    assert lock.lost() is not None
    lock.release()
    assert lock_path(out).read_bytes() == taken[0]
