"""Helpers for tests that train tiny models in-process or in a subprocess."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pytest
from rich.console import Console

from charlm.options import resolve
from charlm.training.config import TrainConfig
from charlm.training.console import Reporter

ROOT = Path(__file__).resolve().parents[2]
# On the PYTHONPATH of the processes the tests start: its sitecustomize keeps NLTK from the data
# installed on the machine.
CHILD_SITE = ROOT / "tests" / "child_site"
TINY = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
        "--batch-size", "16", "--samples", "0", "--device", "cpu"]
# The longest a test waits for a child process to reach a point or to end.
WAIT_S = 120.0


def tiny_flags(**changes: Any) -> dict[str, Any]:
    """Flags of a tiny CPU run, as the CLI would pass them (None = not given)."""
    flags: dict[str, Any] = {"embedding_dim": 8, "hidden_dim": 16, "vocabulary_size": 50,
                             "batch_size": 16, "samples": 0, "device": "cpu"}
    flags.update(changes)
    return flags


def config_of(**flags: Any) -> TrainConfig:
    return resolve(TrainConfig, flags, {})


def quiet_reporter() -> Reporter:
    return Reporter(Console(file=io.StringIO(), width=200))


def child_environment(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment for a child process, using this checkout's package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARLM_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT), str(CHILD_SITE)]),
                "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    env.update(extra_env or {})
    return env


def _default_signals() -> None:
    """In the child, before it starts: SIGINT and SIGQUIT as a terminal's programs get them. A
    shell that runs the tests in the background ignores both, its children inherit that, and
    Python then never raises KeyboardInterrupt: the tests that send SIGINT would wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class Child:
    """A process in a session of its own, its output read as it comes (and, with stdin, its
    input written as the test goes). Used as a context manager, it and every process it started
    are killed if it still runs when the test ends, so a failed or timed-out test leaves nothing
    behind."""

    def __init__(self, command: Sequence[str], env: dict[str, str],
                 cwd: Path | None = None, stdin: bool = False) -> None:
        self.process = subprocess.Popen(list(command), env=env, cwd=cwd, text=True,
                                        stdin=subprocess.PIPE if stdin else None,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True, preexec_fn=_default_signals)
        self.out_lines: list[str] = []
        self.err_lines: list[str] = []
        self._readers = [self._reader(self.process.stdout, self.out_lines),
                         self._reader(self.process.stderr, self.err_lines)]

    @staticmethod
    def _reader(stream: IO[str] | None, lines: list[str]) -> threading.Thread:
        def read() -> None:
            assert stream is not None
            for line in stream:
                lines.append(line)

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.kill()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout(self) -> str:
        return "".join(self.out_lines)

    @property
    def stderr(self) -> str:
        return "".join(self.err_lines)

    def running(self) -> bool:
        return self.process.poll() is None

    def waiting(self) -> bool:
        """Whether the child sleeps in a system call (reading its input, say), as Linux's /proc
        tells; where there is no /proc, it is taken to be whenever it is asked."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return self.running()
        return stat.rsplit(")", 1)[1].split()[0] == "S"

    def write_line(self, line: str) -> None:
        """One line to the child's input (a Child started with stdin=True)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL to the child and every process it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll until `condition` holds; fail (with the output) if the child ends first or
        WAIT_S pass."""
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if not self.running():
                self._join()
                pytest.fail(f"the child ended ({self.process.returncode}) before {what}:\n"
                            f"{self.stdout}\n{self.stderr}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the child did not reach {what} in {WAIT_S:.0f} s")
            time.sleep(0.05)

    def wait_for_stderr(self, text: str) -> None:
        self.wait_until(lambda: text in self.stderr, repr(text))

    def finish(self, timeout: float = WAIT_S) -> int:
        """Wait for the child to end and return its exit code; kill it and fail after
        `timeout` seconds."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self._join()
            pytest.fail(f"the child did not end in {timeout:.0f} s:\n{self.stdout}\n"
                        f"{self.stderr}")
        self._join()
        if self.process.stdin is not None:
            self.process.stdin.close()
        return self.process.returncode

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)


def charlm_process(args: Sequence[str], extra_env: dict[str, str] | None = None,
                   cwd: Path | None = None, stdin: bool = False) -> Child:
    """`python -m charlm ARGS` in a real process, using this checkout's package."""
    return Child([sys.executable, "-m", "charlm", *args], child_environment(extra_env), cwd,
                 stdin)


def paused_saves_process(args: Sequence[str]) -> Child:
    """`charlm ARGS` in a real process whose every checkpoint save holds still between its
    complete temporary file and the rename (paused_saves.py)."""
    script = Path(__file__).with_name("paused_saves.py")
    return Child([sys.executable, str(script), *args], child_environment())


def rank_run_flags(corpus: str, out: Path, softmax: str = "full") -> dict[str, Any]:
    """The run that test_distributed trains on two ranks and replays in one process: one epoch
    of 24 batches of sentences, so 12 steps of two."""
    return tiny_flags(corpus=corpus, out=str(out), epochs=1, print_every=100_000, threads=1,
                      learning_rate=0.003, force=True, softmax=softmax, context="sentence")


def one_error_line(result: Any, code: int | None = None) -> str:
    """The one line a CLI run that failed printed on stderr: no traceback, an exit (with `code`
    when given), and "Error: " before the message."""
    if code is not None:
        assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


