"""Ctrl-C and SIGTERM in a real process: finish the step, save, say how to resume, exit 130/143."""

from __future__ import annotations

import re
import shlex
import signal
from pathlib import Path

import pytest
from helpers.interrupting import slow_save_process, temporaries
from helpers.resuming import one_epoch
from helpers.training import (
    TINY,
    charlm_process,
)
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.lock import lock_path

__all__ = ["one_epoch"]  # the fixture, shared in helpers.resuming


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_prints_the_resume_command_and_exits(
    corpus_file: Path, tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "run.pt"
    with charlm_process(["train", str(corpus_file), "-o", str(out), "--epochs", "1000",
                         "--print-every", "48", *TINY]) as child:
        child.wait_until(out.exists, "the first checkpoint")
        reported_steps = load_checkpoint(out)["progress"]["steps"]
        child.send_signal(signum)
        assert child.finish() == code, child.stderr
    err = child.stderr
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"Stopped: {signal.Signals(signum).name} received: finished step")
    assert f"saved the checkpoint {out}" in last
    command = last.split("resume with: ")[1]
    assert command == f"charlm train {corpus_file} --resume {out}"
    # The step the message names is the step the checkpoint holds.
    finished_step = int(re.search(r"finished step (\d+)", last).group(1))
    progress = load_checkpoint(out)["progress"]
    assert progress["steps"] == finished_step >= reported_steps
    assert temporaries(out) == []
    assert not lock_path(out).exists()
    if signum == signal.SIGINT:
        # The printed command continues the run (here for one epoch more).
        args = shlex.split(command)[1:] + ["--epochs", str(progress["epoch"] + 1)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert load_checkpoint(out)["progress"]["epoch"] == progress["epoch"] + 1


def test_second_ctrl_c_stops_at_once_during_a_save_and_keeps_the_checkpoint(
    one_epoch: Path, corpus_file: Path
) -> None:
    before = one_epoch.read_bytes()
    with slow_save_process(corpus_file, one_epoch) as child:
        child.wait_until(lambda: bool(temporaries(one_epoch)), "a save")
        child.send_signal(signal.SIGINT)
        # The first Ctrl-C is taken in and the save goes on; only then comes the second.
        child.wait_for_stderr("SIGINT received: stopping after this step")
        assert child.running() and temporaries(one_epoch)
        child.send_signal(signal.SIGINT)
        # The save was paused for 600 s: only stopping at once ends the process in time.
        assert child.finish() == 130, child.stderr
    err = child.stderr
    assert "Traceback" not in err
    assert "stopped at once" in err.strip().splitlines()[-1]
    assert one_epoch.read_bytes() == before
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 1
    assert temporaries(one_epoch) == []
