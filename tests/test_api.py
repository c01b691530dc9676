"""charlm from Python: the same answers as the commands, through the same code, printing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from training import ROOT, child_environment
from typer.testing import CliRunner

import charlm
from charlm.cli import app

runner = CliRunner()
LINES = ["Anna walked to the garden in the morning.", "Ben was tired. Clara was quiet.",
         "the zebra saw a xylophone"]


def test_import_charlm_does_not_load_torch() -> None:
    code = "import sys, charlm; print('torch' in sys.modules, charlm.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_environment(), cwd=ROOT, check=True)
    assert done.stdout.split()[0] == "False", done.stdout


def test_load_gives_the_vocabulary_config_and_tokenizer(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    assert model.vocabulary[:3] == ["UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END"]
    assert len(model.vocabulary) == model.config.vocab_size == 50
    assert model.config.hidden_dim == 16
    assert model.tokenize("Anna walked.  Mr. Ben was tired!") == [
        ["anna", "walked", "."], ["mr.", "ben", "was", "tired", "!"]]


def test_score_equals_charlm_score_to_the_last_digit(
    trained_model: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = str(trained_model["checkpoint"])
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["score", checkpoint, str(lines), "--one-per-line", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()[:-1]]
    scores = charlm.load(checkpoint).score(LINES)
    assert capsys.readouterr() == ("", "")  # the library prints nothing
    assert [s.log_prob for s in scores] == [row["log_prob"] for row in rows]
    assert [s.tokens for s in scores] == [row["tokens"] for row in rows]
    assert [s.oov for s in scores] == [row["oov"] for row in rows]
    assert scores[2].unknown == ["zebra", "saw", "a", "xylophone"]
    assert scores[0].words == ["anna", "walked", "to", "the", "garden", "in", "the", "morning",
                               "."]


def test_evaluate_equals_charlm_evaluate(trained_model: dict) -> None:
    checkpoint, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])
    result = runner.invoke(app, ["evaluate", checkpoint, valid, "--json"])
    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout)
    evaluation = charlm.load(checkpoint).evaluate(valid)
    assert evaluation.loss == expected["loss"]
    assert evaluation.tokens == expected["tokens"]
    assert evaluation.perplexity == expected["perplexity"]
    # A text that names no file is read as the text itself, as the file's own text is.
    from_text = charlm.load(checkpoint).evaluate(Path(valid).read_text(encoding="utf-8"))
    assert from_text.loss == pytest.approx(evaluation.loss, rel=1e-12)
    assert from_text.sentences == evaluation.sentences


def test_generate_repeats_with_a_seed_and_continues_a_prompt(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    first = model.generate(4, seed=3)
    assert len(first) == 4 and all(isinstance(s, str) and s for s in first)
    assert model.generate(4, seed=3) == first
    command = runner.invoke(app, ["generate", str(trained_model["checkpoint"]), "-n", "4",
                                  "--seed", "3"])
    assert command.stdout.splitlines() == first
    prompted = model.generate(2, prompt="anna walked", seed=1, temperature=0.5)
    assert all(s.lower().startswith("anna walked") for s in prompted)


def test_next_words_are_a_distribution_likeliest_first(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    everything = model.next_words("anna walked to", k=len(model.vocabulary))
    assert sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-5)
    probabilities = [p for _, p in everything]
    assert probabilities == sorted(probabilities, reverse=True)
    assert model.next_words("anna walked to", k=3) == everything[:3]
    assert everything[0][0] == "the"  # every place in the corpus begins with "the"


def test_errors_are_charlm_errors_with_the_commands_lines(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    with pytest.raises(charlm.CharlmError) as refused:
        charlm.load(missing)
    result = runner.invoke(app, ["generate", str(missing)])
    assert result.stderr.strip() == f"Error: {refused.value}"
    assert isinstance(refused.value, charlm.CheckpointError)
