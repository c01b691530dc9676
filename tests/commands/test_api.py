"""charlm from Python: the same answers as the commands, through the same code, printing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.training import ROOT, child_environment
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
    # A model of document context writes a passage, printed as one paragraph.
    assert command.stdout.splitlines() == [" ".join(first)]
    prompted = model.generate(2, prompt="anna walked", seed=1, temperature=0.5)
    assert prompted[0].lower().startswith("anna walked")
    alone = charlm.load(trained_model["checkpoint"], context="sentence")
    sentences = alone.generate(4, seed=3)
    command = runner.invoke(app, ["generate", str(trained_model["checkpoint"]), "-n", "4",
                                  "--seed", "3", "--context", "sentence"])
    assert command.stdout.splitlines() == sentences
    prompted = alone.generate(2, prompt="anna walked", seed=1, temperature=0.5)
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


TINY_SETTINGS = {"embedding_dim": 8, "hidden_dim": 16, "vocabulary_size": 50, "batch_size": 16,
                 "samples": 1, "device": "cpu", "threads": 1, "print_every": 150,
                 "dropout": 0.1}
TINY_FLAGS = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
              "--batch-size", "16", "--samples", "1", "--device", "cpu", "--threads", "1",
              "--print-every", "150", "--dropout", "0.1"]


def same_training_state(first: Path, second: Path) -> None:
    """Two checkpoints hold the same weights, average, optimizer state and progress."""
    import torch

    from charlm.checkpoint.schema import read_checkpoint

    a, b = read_checkpoint(first), read_checkpoint(second)
    for name, tensor in a.model_state.items():
        assert torch.equal(tensor, b.model_state[name]), name
    for name, tensor in a.weight_average["training_weights"].items():
        assert torch.equal(tensor, b.weight_average["training_weights"][name]), name
    assert a.progress["steps"] == b.progress["steps"]
    timing = {"elapsed_s", "tokens_per_s"}
    assert ([{k: v for k, v in m.items() if k not in timing} for m in a.progress["metrics"]]
            == [{k: v for k, v in m.items() if k not in timing} for m in b.progress["metrics"]])


def test_a_run_started_from_python_resumes_from_the_command_line(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One report at the end of each epoch, so the first run's last report is the whole run's.
    whole = tmp_path / "whole.pt"
    done = runner.invoke(app, ["train", str(corpus_file), "-o", str(whole), "--epochs", "2",
                               *TINY_FLAGS, "--print-every", "100000"])
    assert done.exit_code == 0, done.output
    capsys.readouterr()
    half = tmp_path / "half.pt"
    result = charlm.train(corpus_file, out=half, epochs=1, **TINY_SETTINGS | {
        "print_every": 100000})
    assert capsys.readouterr() == ("", "")  # the library prints nothing
    assert result.checkpoint == half and result.stopped is None
    assert [r.epoch for r in result.reports][-1] == 1 and result.reports[-1].checkpoint == half
    from charlm.checkpoint.schema import read_checkpoint

    origins = read_checkpoint(half).setting_origins
    assert origins["epochs"] == "epochs=" and origins["cell"] == "default"
    resumed = runner.invoke(app, ["train", str(corpus_file), "--resume", str(half),
                                  "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    same_training_state(whole, half)


def test_breaking_out_of_reports_leaves_a_checkpoint_that_resume_continues(
    corpus_file: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.pt"
    charlm.train(corpus_file, out=whole, epochs=2, **TINY_SETTINGS)
    part = tmp_path / "part.pt"
    seen = []
    for report in charlm.reports(corpus_file, out=part, epochs=2, **TINY_SETTINGS):
        seen.append(report)
        if len(seen) == 2:
            break
    from charlm.checkpoint.schema import read_checkpoint

    assert read_checkpoint(part).progress["steps"] == seen[-1].step
    assert seen[0].sentences < seen[1].sentences and seen[1].samples
    # The lock is released: the same output can be trained on again at once.
    rest = charlm.train(corpus_file, out=part, resume=part)
    assert rest.reports and rest.reports[0].step > seen[-1].step
    same_training_state(whole, part)


def test_python_settings_are_checked_as_flags_are(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    with pytest.raises(charlm.ConfigError, match=r"learning_rate=: 0\.0 is too small; it must "
                                                 "be greater than 0"):
        charlm.train(corpus_file, out=out, learning_rate=0.0)
    with pytest.raises(charlm.ConfigError, match="unknown setting 'lerning_rate='"):
        charlm.train(corpus_file, out=out, lerning_rate=0.1)
    with pytest.raises(charlm.ConfigError, match="hidden_dim=: 'big' is not a whole number"):
        charlm.train(corpus_file, out=out, hidden_dim="big")
    with pytest.raises(charlm.ConfigError, match="cell=: unknown value 'transformer'"):
        charlm.train(corpus_file, out=out, cell="transformer")
    assert not out.exists()


def test_the_callers_own_code_runs_outside_training(corpus_file: Path, tmp_path: Path) -> None:
    import signal
    import time

    outside = signal.getsignal(signal.SIGINT)
    seen = []
    for report in charlm.reports(corpus_file, out=tmp_path / "m.pt", epochs=2, **TINY_SETTINGS):
        # Ctrl-C interrupts the caller's code as it would without charlm ...
        assert signal.getsignal(signal.SIGINT) is outside
        seen.append(report)
        time.sleep(1.5)
    # ... and the time it takes is not counted as training time.
    steps = [later.elapsed_s - earlier.elapsed_s for earlier, later in zip(seen, seen[1:])]
    assert len(steps) >= 2 and max(steps) < 1.0, steps


def test_a_model_counts_dropped_sentences_of_each_call_alone(
    trained_model: dict, tmp_path: Path
) -> None:
    text = tmp_path / "long.txt"
    text.write_text(" ".join(["anna"] * 300) + ".\n\nAnna walked to the garden.\n",
                    encoding="utf-8")
    model = charlm.load(trained_model["checkpoint"])
    first = model.score_text([str(text)]).warnings
    assert first == model.score_text([str(text)]).warnings
    assert len(first) == 1 and first[0].startswith("1 sentences")
    with pytest.raises(charlm.CorpusError, match="corpus not found: held-out.txt"):
        model.evaluate("held-out.txt")
