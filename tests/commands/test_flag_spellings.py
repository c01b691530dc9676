"""One spelling for each meaning across commands: `--top-k` samples (generate), `--next-words`
counts the words `complete` shows; `--split one-per-line` in score as in train and evaluate;
`--json` in every command, train too. The former spellings (`complete --top-k`,
`score --one-per-line`, `train --log-format`) and their variables still work, hidden from --help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.training import one_error_line
from typer.testing import CliRunner

from charlm.cli import app
from charlm.commands.complete import CompleteConfig
from charlm.commands.score import ScoreConfig
from charlm.errors import ConfigError
from charlm.options import origins_of, python_argument, resolve
from charlm.training.config import TrainConfig

runner = CliRunner()


@pytest.mark.parametrize(("cls", "flags", "env", "name", "value", "origin"), [
    (TrainConfig, {"log_format": "json"}, {}, "json", True, "--log-format"),
    (TrainConfig, {"log_format": "text"}, {}, "json", False, "--log-format"),
    (TrainConfig, {}, {"CHARLM_LOG_FORMAT": "json"}, "json", True, "CHARLM_LOG_FORMAT"),
    (TrainConfig, {"json": False, "log_format": "json"}, {}, "json", False, "--json"),
    (TrainConfig, {}, {"CHARLM_JSON": "0", "CHARLM_LOG_FORMAT": "json"}, "json", False,
     "CHARLM_JSON"),
    (ScoreConfig, {"one_per_line": True}, {}, "split", "one-per-line", "--one-per-line"),
    (ScoreConfig, {"one_per_line": False}, {}, "split", None, "default"),
    (ScoreConfig, {}, {"CHARLM_SCORE_ONE_PER_LINE": "yes"}, "split", "one-per-line",
     "CHARLM_SCORE_ONE_PER_LINE"),
    (ScoreConfig, {"split": "lines", "one_per_line": True}, {}, "split", "lines", "--split"),
    (CompleteConfig, {"top_k": 3}, {}, "next_words", 3, "--top-k"),
    (CompleteConfig, {}, {"CHARLM_COMPLETE_TOP_K": "4"}, "next_words", 4,
     "CHARLM_COMPLETE_TOP_K"),
    (CompleteConfig, {"next_words": 5}, {"CHARLM_COMPLETE_TOP_K": "4"}, "next_words", 5,
     "--next-words"),
])
def test_former_spellings_are_read_after_the_current_ones(
    cls: type, flags: dict[str, Any], env: dict[str, str], name: str, value: Any, origin: str
) -> None:
    needed = {"corpus": "c.txt"} if cls is TrainConfig else {"model": "m.pt"}
    config = resolve(cls, needed | flags, env)
    assert getattr(config, name) == value
    if cls is TrainConfig:  # the config that records where its settings came from
        assert origins_of(config)[name] == origin


def test_a_bad_value_in_a_former_spelling_gets_one_line_naming_it(corpus_file: Path) -> None:
    result = runner.invoke(app, ["train", str(corpus_file), "--log-format", "xml"])
    assert one_error_line(result, 2) == ("Error: --log-format: unknown value 'xml'; choose one "
                                         "of text, json")
    with pytest.raises(ConfigError, match=r"^CHARLM_COMPLETE_TOP_K: 0 is too small"):
        resolve(CompleteConfig, {"model": "m.pt"}, {"CHARLM_COMPLETE_TOP_K": "0"})
    with pytest.raises(ConfigError, match=r"^top_k=.*'many' is not a"):
        resolve(CompleteConfig, {"model": "m.pt", "top_k": "many"}, {}, python_argument)


@pytest.mark.parametrize(("command", "former", "current"), [
    ("complete", "--top-k", "--next-words"),
    ("score", "--one-per-line", "--split"),
    ("train", "--log-format", "--json"),
])
def test_help_shows_the_current_spelling_only(command: str, former: str, current: str) -> None:
    shown = runner.invoke(app, [command, "--help"]).output
    assert current in shown and former not in shown


def test_complete_counts_its_words_with_next_words_as_with_top_k(trained_model: dict) -> None:
    model = str(trained_model["checkpoint"])
    current, former = (runner.invoke(app, ["complete", model, "--json", "--seed", "1", flag, "3"],
                                     input="Anna was\n") for flag in ("--next-words", "--top-k"))
    assert current.exit_code == 0, current.output
    assert len(json.loads(current.stdout)["next"]) == 3
    assert former.stdout == current.stdout


def test_score_split_one_per_line_is_the_former_flag(trained_model: dict) -> None:
    model = str(trained_model["checkpoint"])
    text = "Anna walked to the garden. Ben was tired.\n\nthe river\n"
    current, former = (runner.invoke(app, ["score", model, "--json", *flags], input=text)
                       for flags in (["--split", "one-per-line"], ["--one-per-line"]))
    assert current.exit_code == 0, current.output
    rows = [json.loads(line) for line in current.stdout.splitlines()]
    assert len(rows) == 4  # three lines, each one sentence as given, then the summary
    assert rows[-1]["summary"]["split"] == ["one-per-line"]
    assert former.stdout == current.stdout


def test_score_cuts_text_with_any_split_as_evaluate_does(trained_model: dict,
                                                         tmp_path: Path) -> None:
    model = str(trained_model["checkpoint"])
    text = tmp_path / "text.txt"
    text.write_text("Anna walked to the garden. Ben was\ntired. Clara was quiet.\n\n"
                    "Henry saw the river.\n", encoding="utf-8")
    for split in ("lines", "paragraphs", "auto"):
        evaluated = runner.invoke(app, ["evaluate", model, str(text), "--split", split, "--json"])
        scored = runner.invoke(app, ["score", model, str(text), "--split", split, "--json"])
        assert scored.exit_code == 0, scored.output
        summary = json.loads(scored.stdout.splitlines()[-1])["summary"]
        expected = json.loads(evaluated.stdout)
        assert (summary["sentences"], summary["split"], summary["loss"]) == (
            expected["sentences"], expected["split"], expected["loss"]), split


def test_score_refuses_to_choose_a_split_for_standard_input(trained_model: dict) -> None:
    result = runner.invoke(app, ["score", str(trained_model["checkpoint"]), "--split", "auto"],
                           input="Anna was here.\n")
    assert "standard input can be read only once" in one_error_line(result, 1)
