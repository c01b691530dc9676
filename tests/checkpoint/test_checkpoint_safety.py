"""Checkpoints survive kills, full disks and divergence, and files from strangers are refused."""

from __future__ import annotations

import builtins
import errno
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.interrupting import slow_save_process, temporaries
from helpers.resuming import one_epoch
from helpers.training import TINY, config_of, one_error_line, quiet_reporter, tiny_flags
from typer.testing import CliRunner

from charlm.checkpoint.files import FORMAT_VERSION, is_checkpoint, load_checkpoint, save_checkpoint
from charlm.cli import app
from charlm.model.network import RNNLanguageModel
from charlm.training.checkpointer import best_path
from charlm.training.loop import TrainingDiverged, run_training

__all__ = ["one_epoch"]  # the fixture, shared in helpers.resuming


def test_sigkill_during_a_save_leaves_the_previous_checkpoint(
    one_epoch: Path, corpus_file: Path
) -> None:
    before = one_epoch.read_bytes()
    with slow_save_process(corpus_file, one_epoch) as child:
        child.wait_until(lambda: bool(temporaries(one_epoch)), "a save")
        child.send_signal(signal.SIGKILL)
        child.finish()
    assert one_epoch.read_bytes() == before
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 1
    [leftover] = temporaries(one_epoch)
    # The half-finished save is hidden and not a .pt name; the next save clears it away.
    assert leftover.name.startswith(".") and leftover.suffix != ".pt"
    run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2),
                 quiet_reporter())
    assert temporaries(one_epoch) == []
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 2



class FullDisk:
    """A file that takes `room` bytes and then fails as a full disk does."""

    def __init__(self, handle: Any, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(
    one_epoch: Path, corpus_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = one_epoch.read_bytes()
    monkeypatch.setattr("charlm.checkpoint.files.open",
                        lambda path, mode: FullDisk(builtins.open(path, mode), 2000),
                        raising=False)
    result = CliRunner().invoke(app, ["train", str(corpus_file), "--resume", str(one_epoch),
                                      "--epochs", "2"])
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "could not save the checkpoint" in line and "No space left on device" in line
    assert one_epoch.read_bytes() == before
    assert is_checkpoint(one_epoch)
    assert temporaries(one_epoch) == []


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = RNNLanguageModel.training_loss
    steps = {"n": 0}

    def loss_going_nan(self: RNNLanguageModel, inputs: torch.Tensor, targets: torch.Tensor,
                       *state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
        total, penalty, final = real_loss(self, inputs, targets, *state)
        if self.training:
            steps["n"] += 1
            if steps["n"] == 10:
                return total * math.nan, penalty, final
        return total, penalty, final

    monkeypatch.setattr(RNNLanguageModel, "training_loss", loss_going_nan)
    out = tmp_path / "nan.pt"
    with pytest.raises(TrainingDiverged) as diverged:
        # Sentence context: a report every 4 steps of 16 sentences.
        run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=3,
                                            print_every=64, context="sentence")), quiet_reporter())
    message = str(diverged.value)
    assert "at step 10" in message
    assert f"last good checkpoint {out} (step 8) is kept" in message
    assert "lower --learning-rate" in message and "--clip-norm" in message
    document = load_checkpoint(out)
    assert document["progress"]["steps"] == 8
    assert all(torch.isfinite(t).all() for t in document["model_state"].values())


def test_keep_best_keeps_the_checkpoint_with_the_lowest_validation_loss(
    corpus_file: Path, tmp_path: Path
) -> None:
    # A far too high learning rate makes the validation loss rise again after its best report
    # (on batches of sentences, 4 reports an epoch).
    out = tmp_path / "run.pt"
    steady = ["--context", "sentence", "--device", "cpu", "--threads", "1"]
    result = CliRunner().invoke(app, [
        "train", str(corpus_file), "-o", str(out), "--epochs", "1", "--print-every", "100",
        "--keep-best", "--learning-rate", "1.0", "--weight-average", "0", *TINY, *steady,
    ])
    assert result.exit_code == 0, result.output
    best = best_path(out)
    assert best == tmp_path / "run.best.pt"
    history = [m["val_loss"] for m in load_checkpoint(out)["progress"]["metrics"]]
    best_report = history.index(min(history)) + 1
    assert best_report < len(history), "the run must get worse after its best report"
    kept = load_checkpoint(best)["progress"]
    assert kept["reports"] == best_report
    assert kept["best_val_loss"] == min(history)
    assert result.output.count("best validation loss so far") == len(
        [i for i, loss in enumerate(history) if loss < min(history[:i], default=math.inf)])
    # The run ends saying which report was best and where that model is.
    last_line = result.output.strip().splitlines()[-1]
    assert f"at report {best_report} of {len(history)}" in last_line
    assert last_line.endswith(f"saved in {best}")

    without = tmp_path / "without.pt"
    again = CliRunner().invoke(app, [
        "train", str(corpus_file), "-o", str(without), "--epochs", "1", "--print-every", "100",
        "--learning-rate", "1.0", "--weight-average", "0", *TINY, *steady,
    ])
    assert again.exit_code == 0, again.output
    last_line = again.output.strip().splitlines()[-1]
    assert f"at report {best_report} of {len(history)}" in last_line
    assert f"{without} holds the last model" in last_line and "--keep-best" in last_line


class CreatesMarker:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(
    tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    crafted = tmp_path / "crafted.pt"
    torch.save({"format": "charlm", "format_version": 1, "model_state": CreatesMarker(marker)},
               crafted)
    for args in (["generate", str(crafted)],
                 ["train", str(tmp_path), "--resume", str(crafted)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        assert "refused" in one_error_line(result)
        assert not marker.exists()
    # The file is a real exploit: plain unpickling its data does run the code.
    with zipfile.ZipFile(crafted) as archive:
        data = next(name for name in archive.namelist() if name.endswith("data.pkl"))
        pickle.loads(archive.read(data))
    assert marker.exists()


@pytest.fixture
def checkpoint_bytes(one_epoch: Path) -> bytes:
    return one_epoch.read_bytes()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("text", "is not a charlm checkpoint (not a PyTorch file)"),
        ("truncated", "is not a charlm checkpoint (it is truncated or damaged"),
        ("foreign", "is not a charlm checkpoint (it was not written by charlm)"),
        ("newer", f"newer than this charlm reads (up to {FORMAT_VERSION}): upgrade charlm"),
    ],
)
@pytest.mark.parametrize("command", ["generate", "resume"])
def test_unusable_checkpoints_get_one_line(
    tmp_path: Path, checkpoint_bytes: bytes, corpus_file: Path, kind: str, expected: str,
    command: str
) -> None:
    path = tmp_path / f"{kind}.pt"
    if kind == "text":
        path.write_text("just some notes\n")
    elif kind == "truncated":
        path.write_bytes(checkpoint_bytes[: len(checkpoint_bytes) // 2])
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        save_checkpoint({"format_version": FORMAT_VERSION + 1}, path)
    before = path.read_bytes()
    args = (["generate", str(path)] if command == "generate"
            else ["train", str(corpus_file), "--resume", str(path)])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert expected in one_error_line(result)
    assert path.read_bytes() == before


def test_checkpoints_load_onto_the_cpu() -> None:
    # A checkpoint saved on a GPU holds CUDA tensors; loading maps every tensor to the CPU.
    import inspect

    from charlm.checkpoint import files as checkpoint

    assert 'map_location="cpu"' in inspect.getsource(checkpoint.load_checkpoint)


def test_a_save_clears_only_temporaries_whose_writer_is_known_to_be_gone(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    path = tmp_path / "model.pt"
    leftovers = {
        f"{here}-{dead.pid}": False,  # this host, its process ended: abandoned
        str(dead.pid): False,  # named as charlm 0.1.0 did, judged as this host's
        f"{here}-1": True,  # this host, its process runs
        f"node-elsewhere-{dead.pid}": True,  # another host: its process cannot be asked
        f"node-elsewhere-{dead.pid + 1}": False,  # ... unless untouched for days
    }
    for owner in leftovers:
        (tmp_path / f".model.pt.tmp-{owner}").write_bytes(b"half a save")
    days_ago = time.time() - 3 * 24 * 3600
    os.utime(tmp_path / f".model.pt.tmp-node-elsewhere-{dead.pid + 1}", (days_ago, days_ago))
    save_checkpoint({"model_state": {}}, path)
    kept = {p.name.removeprefix(".model.pt.tmp-") for p in temporaries(path)}
    assert kept == {owner for owner, stays in leftovers.items() if stays}
    assert is_checkpoint(path)
