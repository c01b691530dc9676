"""Every cell and option through the command line: train a tiny model, generate from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.cli import app

TINY = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50", "--epochs", "2",
        "--samples", "0", "--learning-rate", "0.01"]


@pytest.mark.parametrize("options", [
    ["--cell", "rnn"],
    ["--cell", "peephole-lstm", "--layers", "1"],
    ["--cell", "cifg-lstm", "--layers", "3", "--dropout", "0.2"],
    ["--cell", "gru", "--gate-activation", "hard-sigmoid"],
    ["--cell", "lstm", "--implementation", "hand-written", "--bptt-truncate", "3"],
    ["--cell", "gru", "--tie-weights", "--embedding-dim", "16", "--dropout", "0.3"],
], ids=["rnn", "peephole-lstm", "cifg-lstm", "tutorial-gru", "hand-written-lstm", "tied-gru"])
def test_every_cell_trains_and_generates(
    corpus_file: Path, tmp_path: Path, options: list[str]
) -> None:
    out = tmp_path / "model.pt"
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(corpus_file), "-o", str(out), *TINY, *options])
    assert result.exit_code == 0, result.output
    document = load_checkpoint(out)
    config = document["model_config"]
    given = dict(zip(options[::2], options[1::2]))
    assert config["cell"] == given["--cell"]
    losses = [m["train_loss"] for m in document["progress"]["metrics"]]
    assert losses[-1] < losses[0]  # it learnt something

    trained = load_trained(out)
    assert not trained.model.training
    generated = runner.invoke(app, ["generate", str(out), "-n", "3", "--seed", "1",
                                    "--allow-unknown", "--tokens"])
    assert generated.exit_code == 0, generated.output
    lines = [line for line in generated.stdout.splitlines() if line.strip()]
    assert len(lines) == 3
    vocabulary = set(document["vocabulary"])
    assert all(word in vocabulary for line in lines for word in line.split())


def test_new_options_reach_the_saved_model(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(corpus_file), "-o", str(out), *TINY, "--epochs", "1", "--cell", "cifg-lstm",
        "--gate-activation", "hard-sigmoid", "--dropout", "0.25", "--bptt-truncate", "5",
        "--layers", "1",
    ])
    assert result.exit_code == 0, result.output
    config = load_checkpoint(out)["model_config"]
    assert config | {"vocab_size": 0} == {
        "vocab_size": 0, "embedding_dim": 8, "hidden_dim": 16, "layers": 1, "cell": "cifg-lstm",
        "gate_activation": "hard-sigmoid", "implementation": "auto", "dropout": 0.25,
        "tie_weights": False, "bptt_truncate": 5, "softmax": "full", "cutoffs": [],
        "last_hidden_dim": 0, "dropout_input": 0.0, "dropout_hidden": 0.0,
        "dropout_output": 0.0, "dropout_mask": "locked", "dropout_embedding": 0.0,
        "weight_drop": 0.0, "ar": 0.0, "tar": 0.0,
    }


def test_environment_variables_choose_the_cell(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARLM_CELL", "peephole-lstm")
    monkeypatch.setenv("CHARLM_GATE_ACTIVATION", "hard-sigmoid")
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(out), *TINY,
                                      "--epochs", "1"])
    assert result.exit_code == 0, result.output
    config = load_checkpoint(out)["model_config"]
    assert (config["cell"], config["gate_activation"]) == ("peephole-lstm", "hard-sigmoid")


@pytest.mark.parametrize(("options", "message"), [
    (["--tie-weights", "--embedding-dim", "8", "--hidden-dim", "16"],
     "--tie-weights needs the embedding and hidden sizes to be equal, but --embedding-dim=8 and "
     "--hidden-dim=16; set both to the same size"),
    (["--cell", "rnn", "--gate-activation", "hard-sigmoid"], "--cell rnn, which has no gates"),
    (["--cell", "peephole-lstm", "--implementation", "fused"],
     "PyTorch has no fused layer for peephole-lstm"),
    (["--cell", "gru", "--gate-activation", "hard-sigmoid", "--implementation", "fused"],
     "PyTorch has no fused layer for gru with hard-sigmoid gates"),
    (["--bptt-truncate", "0"], "--bptt-truncate=0 would backpropagate nothing"),
    (["--bptt-truncate", "-2"], "--bptt-truncate: -2 is too small"),
    (["--dropout", "1"], "--dropout: 1.0 is too large"),
    (["--cell", "transformer"], "--cell: unknown value 'transformer'"),
])
def test_impossible_models_are_refused_before_any_work(
    corpus_file: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(out), *options])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    assert not out.exists()


def test_tie_weights_refusal_names_the_environment_variable(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARLM_TIE_WEIGHTS", "1")
    monkeypatch.setenv("EMBEDDING_DIM", "32")
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2
    assert "CHARLM_TIE_WEIGHTS needs" in result.stderr
    assert "EMBEDDING_DIM=32 and --hidden-dim=128" in result.stderr


def test_a_hand_written_model_resumes_with_its_settings(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    runner = CliRunner()
    first = runner.invoke(app, [
        "train", str(corpus_file), "-o", str(out), *TINY, "--epochs", "1", "--cell", "cifg-lstm",
        "--gate-activation", "hard-sigmoid", "--embedding-dim", "16", "--tie-weights",
    ])
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(app, ["train", "--resume", str(out), "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    document = load_checkpoint(out)
    assert document["progress"]["epoch"] == 2
    config = document["model_config"]
    assert (config["cell"], config["gate_activation"], config["tie_weights"]) == (
        "cifg-lstm", "hard-sigmoid", True)

    refused = runner.invoke(app, ["train", "--resume", str(out), "--epochs", "3",
                                  "--gate-activation", "sigmoid"])
    assert refused.exit_code == 2
    assert "--gate-activation is 'sigmoid' here but 'hard-sigmoid' in the checkpoint" in (
        refused.stderr)
