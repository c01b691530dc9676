"""End to end through the command line: configuration, training, generation."""

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from charlm.cli import app

TINY = ["--embedding-dim", "8", "--hidden-dim", "12", "--vocabulary-size", "60", "--samples", "2"]


def run(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(app, args, env=env)


def saved_config(path: Path) -> dict:
    return torch.load(path, weights_only=True)["train_config"]


def test_train_with_tutorial_variables_then_generate(tmp_path: Path, corpus_file: Path) -> None:
    out = tmp_path / "tutorial.pt"
    env = {
        "INPUT_DATA_FILE": str(corpus_file),
        "MODEL_OUTPUT_FILE": str(out),
        "NEPOCH": "2",
        "VOCABULARY_SIZE": "50",
        "EMBEDDING_DIM": "8",
        "HIDDEN_DIM": "12",
        "LEARNING_RATE": "0.01",
        "PRINT_EVERY": "200",
    }
    # Each sentence alone, as the tutorial read them (its variables name no context).
    result = run(["train", "--samples", "2", "--batch-size", "20", "--context", "sentence"],
                 env=env)
    assert result.exit_code == 0, result.output
    assert "sentences parsed" in result.output and "least frequent kept word" in result.output
    config = saved_config(out)
    assert (config["epochs"], config["vocabulary_size"], config["embedding_dim"],
            config["hidden_dim"], config["learning_rate"], config["print_every"]) == (
        2, 50, 8, 12, 0.01, 200)

    reports = [json.loads(line) for line in Path(f"{out}.metrics.jsonl").read_text().splitlines()]
    # 380 training sentences, a report every 200 and at the end: 200, 400, 600, 760.
    assert [r["examples"] for r in reports] == [200, 400, 600, 760]
    for key in ("elapsed_s", "epoch", "examples", "tokens", "train_loss", "val_loss", "val_ppl",
                "tokens_per_s", "lr"):
        assert all(key in r for r in reports)
    assert reports[-1]["val_loss"] < reports[0]["val_loss"]
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["progress"]["examples"] == 760
    assert len(checkpoint["vocabulary"]) == 50

    generated = run(["generate", str(out), "--count", "7", "--seed", "3", "--allow-unknown"])
    assert generated.exit_code == 0, generated.output
    sentences = generated.stdout.strip().splitlines()
    assert len(sentences) == 7
    assert all(s[0].isupper() or not s[0].isalpha() for s in sentences)
    again = run(["generate", str(out), "--count", "7", "--seed", "3", "--allow-unknown"])
    assert again.stdout == generated.stdout

    tokens = run(["generate", str(out), "-n", "2", "--tokens", "--prompt", "Anna was",
                  "--allow-unknown"])
    assert tokens.exit_code == 0, tokens.output
    assert all(line.startswith("anna was ") for line in tokens.stdout.strip().splitlines())


def test_default_checkpoint_name_follows_the_tutorial(
    tmp_path: Path, corpus_file: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(["train", str(corpus_file), "--epochs", "1", "--cell", "lstm", *TINY])
    assert result.exit_code == 0, result.output
    names = [p.name for p in tmp_path.rglob("*.pt")]
    assert len(names) == 1
    assert names[0].startswith("LSTM-") and names[0].endswith("-60-8-12.pt")


def test_precedence_flag_then_charlm_variable_then_tutorial_variable(
    tmp_path: Path, corpus_file: Path
) -> None:
    base = ["train", str(corpus_file), "--epochs", "1", "--embedding-dim", "8",
            "--vocabulary-size", "40", "--samples", "0", "--force"]
    out = tmp_path / "m.pt"
    env = {"HIDDEN_DIM": "9", "CHARLM_HIDDEN_DIM": "10", "MODEL_OUTPUT_FILE": str(out)}
    assert run([*base, "--hidden-dim", "11"], env=env).exit_code == 0
    assert saved_config(out)["hidden_dim"] == 11
    assert run(base, env=env).exit_code == 0
    assert saved_config(out)["hidden_dim"] == 10
    del env["CHARLM_HIDDEN_DIM"]
    assert run(base, env=env).exit_code == 0
    assert saved_config(out)["hidden_dim"] == 9
    del env["HIDDEN_DIM"]
    assert run(base, env=env).exit_code == 0
    assert saved_config(out)["hidden_dim"] == 128


def one_line_error(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_bad_settings_get_one_line_and_exit_code_2(tmp_path: Path, corpus_file: Path) -> None:
    cases = [
        ({"HIDDEN_DIM": "abc"}, [], "HIDDEN_DIM='abc' is not a whole number"),
        ({"CHARLM_LEARNING_RATE": "fast"}, [], "CHARLM_LEARNING_RATE='fast' is not a number"),
        ({}, ["--hidden-dim", "-3"], "--hidden-dim: -3 is too small"),
        ({}, ["--cell", "transformer"], "--cell: unknown value 'transformer'; choose one of"),
        ({"VOCABULARY_SIZE": "2"}, [], "VOCABULARY_SIZE: 2 is too small; it must be at least 4"),
        ({}, ["--learning-rate", "0"], "--learning-rate: 0.0 is too small"),
        ({"NEPOCH": "0"}, [], "NEPOCH: 0 is too small"),
    ]
    for env, flags, message in cases:
        out = tmp_path / "never.pt"
        result = run(["train", str(corpus_file), "--out", str(out), *flags], env=env)
        assert result.exit_code == 2, (env, flags, result.output)
        assert message in one_line_error(result)
        assert not out.exists()


def test_help_lists_variables_and_defaults() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "[env: CHARLM_HIDDEN_DIM, HIDDEN_DIM]" in result.output
    assert "[env: CHARLM_EPOCHS, NEPOCH]" in result.output
    assert "[default: 0.002]" in result.output
