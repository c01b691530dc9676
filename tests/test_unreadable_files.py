"""Files that cannot be read (a damaged .gz, a file the user may not read): one line naming the
file, a non-zero exit, no traceback, and every existing file left as it was."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import pytest
from corpora import write_corpus
from training import TINY, one_error_line
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
