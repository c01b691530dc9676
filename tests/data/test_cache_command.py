"""The cache's place on each platform, and `charlm cache`: where it is, what it holds, and
--clear, which removes what charlm stored there and nothing else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charlm.cli import app
from charlm.data.cache import cached_prepare, default_cache_dir
from charlm.data.settings import PrepareSettings

runner = CliRunner()
SETTINGS = PrepareSettings(vocabulary_size=40)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux rules")
def test_the_default_cache_follows_the_variables_then_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "charlm"
    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CHARLM_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "charlm"


def cache_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = runner.invoke(app, ["cache", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cache_shows_the_directory_and_what_training_stored(
    corpus_file: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    assert cache_json("--cache-dir", str(directory)) == {
        "directory": str(directory), "cleared": False, "bytes": 0, "entries": []}
    prepared, _ = cached_prepare(str(corpus_file), SETTINGS, cache_dir=directory)
    shown = cache_json(env={"CHARLM_CACHE_DIR": str(directory)})
    [entry] = shown["entries"]
    assert shown["directory"] == str(directory)
    stored = next(directory.iterdir())
    assert entry["name"] == stored.name and entry["complete"]
    assert entry["bytes"] == shown["bytes"] == sum(f.stat().st_size for f in stored.iterdir())
    assert (entry["vocabulary"], entry["tokens"]) == (
        len(prepared.vocabulary), prepared.vocabulary_stats.tokens)
    table = runner.invoke(app, ["cache", "--cache-dir", str(directory)])
    assert table.stdout.splitlines()[0].startswith(f"{directory}: 1 prepared corpus, ")
    assert f"{len(prepared.vocabulary)} words" in table.stdout


def test_the_default_directory_is_the_one_training_uses(corpus_file: Path) -> None:
    cached_prepare(str(corpus_file), SETTINGS)  # the default place (the tests' own XDG cache)
    shown = cache_json()
    assert shown["directory"] == str(default_cache_dir()) and len(shown["entries"]) == 1


def test_clear_removes_what_charlm_stored_and_nothing_else(
    corpus_file: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    cached_prepare(str(corpus_file), SETTINGS, cache_dir=directory)
    cached_prepare(str(corpus_file), PrepareSettings(vocabulary_size=30), cache_dir=directory)
    # What a run killed while storing an entry leaves behind.
    staged = directory / f".{'a' * 32}.tmp-k3x_9q"
    staged.mkdir()
    (staged / "ids.npy").write_bytes(b"partial")
    # What is not charlm's: a file, directories named like entries but holding other things.
    (directory / "notes.txt").write_text("mine", encoding="utf-8")
    foreign = directory / ("b" * 32)
    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"\xff\xd8")
    empty = directory / ("c" * 32)
    empty.mkdir()
    (directory / "d").mkdir()
    before = cache_json("--cache-dir", str(directory))
    assert len(before["entries"]) == 3
    assert [e["complete"] for e in before["entries"]].count(False) == 1

    cleared = cache_json("--cache-dir", str(directory), "--clear")
    assert cleared["cleared"] and cleared["entries"] == before["entries"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["notes.txt", "b" * 32, "c" * 32, "d"])
    assert (foreign / "photo.jpg").exists()
    assert cache_json("--cache-dir", str(directory))["entries"] == []
    said = runner.invoke(app, ["cache", "--clear", "--cache-dir", str(directory)])
    assert said.stdout.strip() == f"removed 0 prepared corpora, 0 B from {directory}"


def test_a_missing_directory_is_shown_empty_and_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "never"
    result = runner.invoke(app, ["cache", "--clear", "--cache-dir", str(directory)])
    assert result.exit_code == 0, result.output
    assert not directory.exists()
