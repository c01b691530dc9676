"""Files that cannot be read (a damaged .gz, a file the user may not read): one line naming the
file, a non-zero exit, no traceback, and every existing file left as it was."""

from __future__ import annotations

import builtins
import errno
import gzip
import io
import os
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import write_corpus
from helpers.training import TINY, one_error_line
from typer.testing import CliRunner

from charlm.cli import app


def invoke(args: list[str], stdin: str | bytes | None = None) -> Any:
    return CliRunner().invoke(app, args, input=stdin)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def damaged_gzip(path: Path, text: bytes, at: float) -> Path:
    """A .gz file of `text` whose compressed stream is damaged where the fraction `at` of the
    text begins, its header and its end intact: a block of a kind that does not exist."""
    cut = int(len(text) * at)
    packer = zlib.compressobj(wbits=31)  # the gzip format
    head = packer.compress(text[:cut]) + packer.flush(zlib.Z_FULL_FLUSH)  # ends a block there
    path.write_bytes(head + b"\xff" * 16 + packer.compress(text[cut:]) + packer.flush())
    with pytest.raises(zlib.error, match="invalid block type"), gzip.open(path) as handle:
        handle.read()
    return path


@pytest.mark.parametrize("at", [0.05, 0.7])  # within the first bytes read, and far beyond them
def test_train_on_a_damaged_gzip_stream_names_the_file(tmp_path: Path, at: float) -> None:
    plain = write_corpus(tmp_path / "plain.txt", sentences=2000)
    corpus = damaged_gzip(tmp_path / "corpus.txt.gz", plain.read_bytes(), at)
    before = snapshot(tmp_path)
    result = invoke(["train", str(corpus), "-o", str(tmp_path / "m.pt"), *TINY])
    assert f"Error: cannot read {corpus}: " in one_error_line(result, code=1)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("at", [0.05, 0.7])
def test_evaluate_on_a_damaged_gzip_stream_names_the_file(trained_model: dict, tmp_path: Path,
                                                          at: float) -> None:
    plain = write_corpus(tmp_path / "plain.txt", sentences=2000)
    damaged = damaged_gzip(tmp_path / "valid.txt.gz", plain.read_bytes(), at)
    result = invoke(["evaluate", str(trained_model["checkpoint"]), str(damaged)])
    assert f"Error: cannot read {damaged}: " in one_error_line(result, code=1)


def opens(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except PermissionError:
        return False


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Path]:
    """Take away the right to read a file (chmod 000). The system refuses every open of it to a
    user; root (as in CI) reads any file, so there its opens are refused as the system refuses
    a user's, and only its: the code that opens it runs as it is."""
    denied: set[str] = set()
    real_open = builtins.open

    def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(file) in denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
        return real_open(file, *args, **kwargs)

    def take_away(path: Path) -> Path:
        path.chmod(0)
        if opens(path):  # root
            denied.add(os.path.realpath(path))
            monkeypatch.setattr(builtins, "open", refusing_open)
            monkeypatch.setattr(io, "open", refusing_open)
        assert not opens(path)
        return path

    return take_away


@pytest.fixture
def inputs(trained_model: dict, tmp_path: Path) -> Path:
    """A folder of every kind of file a command reads: a checkpoint, a corpus (and a corpus
    directory), a validation file and a metrics file."""
    folder = tmp_path / "inputs"
    (folder / "texts").mkdir(parents=True)
    shutil.copy(trained_model["checkpoint"], folder / "model.pt")
    shutil.copy(trained_model["train"], folder / "corpus.txt")
    shutil.copy(trained_model["valid"], folder / "valid.txt")
    shutil.copy(trained_model["metrics_file"], folder / "model.pt.metrics.jsonl")
    shutil.copy(trained_model["train"], folder / "texts" / "a.txt")
    shutil.copy(trained_model["valid"], folder / "texts" / "b.txt")
    return folder


TRAIN = ["--epochs", "1", *TINY]
# What each command opens that the user cannot read, and the command, its paths relative to the
# folder of inputs ("OUT/" for a path in an empty folder beside it).
UNREADABLE_CASES: dict[str, tuple[str, list[str]]] = {
    "train corpus": ("corpus.txt", ["train", "corpus.txt", "-o", "OUT/m.pt", *TRAIN]),
    "train corpus directory": ("texts/b.txt", ["train", "texts", "-o", "OUT/m.pt", *TRAIN]),
    "train --valid": ("valid.txt", ["train", "corpus.txt", "--valid", "valid.txt", "-o",
                                    "OUT/m.pt", *TRAIN]),
    "train --init-from": ("model.pt", ["train", "corpus.txt", "--init-from", "model.pt", "-o",
                                       "OUT/m.pt", "--epochs", "1", "--device", "cpu"]),
    "train --resume": ("model.pt", ["train", "corpus.txt", "--resume", "model.pt", "-o",
                                    "OUT/m.pt", "--epochs", "4"]),
    "info": ("model.pt", ["info", "model.pt"]),
    "generate": ("model.pt", ["generate", "model.pt", "-n", "1"]),
    "evaluate model": ("model.pt", ["evaluate", "model.pt", "valid.txt"]),
    "evaluate file": ("valid.txt", ["evaluate", "model.pt", "valid.txt"]),
    "score model": ("model.pt", ["score", "model.pt", "valid.txt"]),
    "score file": ("valid.txt", ["score", "model.pt", "valid.txt"]),
    "complete": ("model.pt", ["complete", "model.pt"]),
    "export": ("model.pt", ["export", "model.pt", "-o", "OUT/m.onnx"]),
    "plot": ("model.pt.metrics.jsonl", ["plot", "model.pt.metrics.jsonl", "-o", "OUT/m.png"]),
}


@pytest.mark.parametrize("case", list(UNREADABLE_CASES))
def test_a_file_the_user_cannot_read_is_named_in_one_line(
        case: str, inputs: Path, tmp_path: Path, unreadable: Callable[[Path], Path]) -> None:
    name, args = UNREADABLE_CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    denied = unreadable(inputs / name)
    spelled = [str(out / arg[4:]) if arg.startswith("OUT/") else
               str(inputs / arg) if (inputs / arg).exists() else arg for arg in args]
    result = invoke(spelled, stdin="Anna was\n")
    assert f"cannot read {denied}: Permission denied" in one_error_line(result, code=1)
    assert list(out.iterdir()) == []
