"""`charlm plot` on metrics written by a real training run."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charlm.cli import app

runner = CliRunner()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def second_run(metrics_file: Path, tmp_path: Path) -> Path:
    """A second run's metrics: the first run's with higher losses."""
    other = tmp_path / "other.pt.metrics.jsonl"
    records = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    other.write_text("".join(
        json.dumps(r | {"train_loss": r["train_loss"] + 0.5, "val_loss": r["val_loss"] + 0.5})
        + "\n" for r in records))
    return other


@pytest.mark.extra("plot")
def test_plot_writes_a_png_of_the_asked_size(trained_model: dict, tmp_path: Path) -> None:
    import matplotlib.image

    out = tmp_path / "loss.png"
    other = second_run(trained_model["metrics_file"], tmp_path)
    result = runner.invoke(app, ["plot", str(trained_model["metrics_file"]), str(other),
                                 "-o", str(out), "--width", "640", "--height", "360"])
    assert result.exit_code == 0, result.output
    assert png_size(out) == (640, 360)
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (360, 640)
    # Something was drawn: the image is not one flat colour.
    assert image.std() > 0.01
    assert not list(tmp_path.glob(".loss.png.tmp-*"))


def test_plot_without_matplotlib_says_how_to_install_it(
    trained_model: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    out = tmp_path / "loss.png"
    result = runner.invoke(app, ["plot", str(trained_model["metrics_file"]), "-o", str(out)])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert ("pip install 'charlm-rnn[plot]' (from a checkout: pip install -e '.[plot]')"
            in result.stderr)
    assert not out.exists()


def test_plot_refuses_files_that_are_not_metrics(tmp_path: Path) -> None:
    not_json = tmp_path / "notes.txt"
    not_json.write_text("hello\n")
    other_json = tmp_path / "other.jsonl"
    other_json.write_text('{"a": 1}\n')
    for path in (not_json, other_json, tmp_path / "missing.jsonl"):
        result = runner.invoke(app, ["plot", str(path), "-o", str(tmp_path / "x.png")])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error:")
    assert not (tmp_path / "x.png").exists()
