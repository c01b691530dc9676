"""One run at a time per --out: a second run is refused at start naming the holder; a lock left
by a run that died is taken over with a warning."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

from test_interrupts import one_epoch, temporaries
from training import TINY, paused_saves_process
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.lock import STALE_AFTER_S, OutputLock, lock_path

__all__ = ["one_epoch"]  # the fixture, shared with test_interrupts


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


def lock_from_another_host(out: Path, heartbeat_age_s: float) -> None:
    lock = lock_path(out)
    lock.write_text(json.dumps({"host": "node-elsewhere", "pid": os.getpid(),
                                "started": "2026-01-01 00:00:00"}))
    beat = time.time() - heartbeat_age_s
    os.utime(lock, (beat, beat))


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
