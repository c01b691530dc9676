"""Ctrl-C and SIGTERM in a real process: finish the step, save, say how to resume, exit 130/143."""

from __future__ import annotations

import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from training import TINY, charlm_process, config_of, quiet_reporter, tiny_flags
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.loop import train

WAIT_S = 120.0


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    """Poll until `condition` holds; fail (with the process output) if the process ends first."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"charlm ended early ({process.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("charlm did not reach the expected point")
        time.sleep(0.05)


def temporaries(checkpoint: Path) -> list[Path]:
    return sorted(checkpoint.parent.glob(f".{checkpoint.name}.tmp-*"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_prints_the_resume_command_and_exits(
    corpus_file: Path, tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "run.pt"
    process = charlm_process(["train", str(corpus_file), "-o", str(out), "--epochs", "1000",
                              "--print-every", "48", *TINY])
    wait_for(out.exists, process)
    reported_steps = load_checkpoint(out)["progress"]["steps"]
    process.send_signal(signum)
    _, err = process.communicate(timeout=WAIT_S)
    assert process.returncode == code, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"Stopped: {signal.Signals(signum).name} received: finished step")
    assert f"saved the checkpoint {out}" in last
    command = last.split("resume with: ")[1]
    assert command == f"charlm train {corpus_file} --resume {out}"
    progress = load_checkpoint(out)["progress"]
    assert progress["steps"] >= reported_steps
    assert temporaries(out) == []
    if signum == signal.SIGINT:
        # The printed command continues the run (here for one epoch more).
        args = shlex.split(command)[1:] + ["--epochs", str(progress["epoch"] + 1)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert load_checkpoint(out)["progress"]["epoch"] == progress["epoch"] + 1


@pytest.fixture
def one_epoch(corpus_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "one.pt"
    train(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=1,
                                 print_every=1000)), quiet_reporter())
    return out


def slow_save_process(corpus_file: Path, checkpoint: Path) -> subprocess.Popen[str]:
    """Resume `checkpoint` with every save stopped between the temporary file and the rename."""
    return charlm_process(
        ["train", str(corpus_file), "--resume", str(checkpoint), "--epochs", "3",
         "--print-every", "16"],
        {"CHARLM_TEST_PAUSE_BEFORE_RENAME": "600"},
    )


def test_second_ctrl_c_stops_at_once_during_a_save_and_keeps_the_checkpoint(
    one_epoch: Path, corpus_file: Path
) -> None:
    before = one_epoch.read_bytes()
    process = slow_save_process(corpus_file, one_epoch)
    wait_for(lambda: bool(temporaries(one_epoch)), process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    # The save was paused for 600 s: only stopping at once ends the process within WAIT_S.
    _, err = process.communicate(timeout=WAIT_S)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "stopped at once" in err.strip().splitlines()[-1]
    assert one_epoch.read_bytes() == before
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 1
    assert temporaries(one_epoch) == []
