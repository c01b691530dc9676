"""`charlm train NEW_CORPUS --init-from MODEL`: fine-tuning, not resuming."""

from __future__ import annotations

import hashlib
import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.cli import app
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.averaging import WeightAverage

runner = CliRunner()
NAMES = ["anna", "ben", "clara", "david"]
NEW_WORDS = ["zebra", "meadow"]  # outside the session model's vocabulary
FLAGS = ["--batch-size", "16", "--samples", "0", "--print-every", "100000"]
# The whole corpus in one row, in one window, for one epoch (the model reads running text): a
# run of one step.
ONE_STEP = ["--batch-size", "1", "--bptt", "100000", "--samples", "0", "--epochs", "1"]


def write_new_corpus(path: Path, sentences: int, seed: int) -> Path:
    """Another corpus in the session model's words, ordered differently, with a few new ones."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        first, second = rng.sample(NAMES, 2)
        if rng.random() < 0.2:
            lines.append(f"The {rng.choice(NEW_WORDS)} and {first.capitalize()} was happy.")
        else:
            lines.append(f"{first.capitalize()} and {second} walked to the garden.")
    paragraphs = [" ".join(lines[i : i + 4]) for i in range(0, len(lines), 4)]
    path.write_text("\n\n".join(textwrap.fill(p, 60) for p in paragraphs) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def new_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("new-corpus")
    return {"train": write_new_corpus(root / "new.txt", 240, 3),
            "valid": write_new_corpus(root / "new-valid.txt", 60, 4)}


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, args, env=env)


def evaluate_json(model: Path, corpus: Path) -> dict:
    result = invoke(["evaluate", str(model), str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def val_losses(checkpoint: Path) -> list[float]:
    lines = Path(f"{checkpoint}.metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["val_loss"] for line in lines]


def test_fine_tuning_lowers_the_loss_on_the_new_corpus(
    trained_model: dict, new_corpus: dict[str, Path], tmp_path: Path
) -> None:
    original = trained_model["checkpoint"]
    before = evaluate_json(original, new_corpus["valid"])["loss"]
    out = tmp_path / "tuned.pt"
    result = invoke(["train", str(new_corpus["train"]), "--init-from", str(original),
                     "--valid", str(new_corpus["valid"]), "-o", str(out), "--epochs", "3",
                     "--learning-rate", "0.01", "--embedding-dim", "8", *FLAGS])
    assert result.exit_code == 0, result.output
    assert val_losses(out)[-1] < before - 0.3

    # Before training it said how much of the new corpus the model's vocabulary covers.
    coverage = 1 - evaluate_json(original, new_corpus["train"])["oov_rate"]
    assert f"vocabulary covers={coverage:.1%} of the new corpus" in result.stdout
    unknown = result.stdout.split("most frequent unknown words=")[1].splitlines()[0]
    assert {entry.split(" ")[0] for entry in unknown.split(", ")} == set(NEW_WORDS)

    tuned, base = torch.load(out, weights_only=True), torch.load(original, weights_only=True)
    assert tuned["vocabulary"] == base["vocabulary"]
    assert tuned["model_config"] == base["model_config"]
    assert tuned["tokenizer"] == base["tokenizer"]
    assert tuned["initialised_from"] == {
        "path": str(original), "file": original.name,
        "sha256": hashlib.sha256(original.read_bytes()).hexdigest()}
    # Fresh progress: only this run's sentences (the original model has seen over 1,000).
    assert tuned["progress"]["epoch"] == 3
    assert 0 < tuned["progress"]["examples"] <= 3 * 240
    assert tuned["train_config"]["learning_rate"] == 0.01
    info = invoke(["info", str(out), "--json"])
    assert json.loads(info.stdout)["initialised_from"]["file"] == original.name


def model_with(checkpoint: Checkpoint, weights: dict[str, torch.Tensor]) -> RNNLanguageModel:
    model = RNNLanguageModel(ModelConfig.from_dict(checkpoint.model_config))
    model.load_state_dict(weights)
    return model


def test_it_starts_from_the_models_weights(trained_model: dict, new_corpus: dict[str, Path],
                                           tmp_path: Path) -> None:
    """One step at a learning rate too small to move the weights: the weights training goes on
    from and their average are both the original model's, so the one validation loss is the
    original model's on the new corpus."""
    before = evaluate_json(trained_model["checkpoint"], new_corpus["valid"])["loss"]
    out = tmp_path / "still.pt"
    result = invoke(["train", str(new_corpus["train"]), "--init-from",
                     str(trained_model["checkpoint"]), "--valid", str(new_corpus["valid"]),
                     "-o", str(out), "--learning-rate", "1e-12", *ONE_STEP])
    assert result.exit_code == 0, result.output
    # After one step, an average begun from other weights still holds about a tenth of them.
    assert val_losses(out) == [pytest.approx(before, rel=1e-5)]
    loaded = read_checkpoint(trained_model["checkpoint"]).model_state
    tuned = read_checkpoint(out)
    assert tuned.progress["steps"] == 1 and tuned.weight_average is not None
    training_weights = tuned.weight_average["training_weights"]
    assert training_weights.keys() == loaded.keys()
    for name, value in loaded.items():
        torch.testing.assert_close(training_weights[name], value, rtol=1e-6, atol=1e-9)


def test_its_weight_average_starts_afresh(trained_model: dict, new_corpus: dict[str, Path],
                                          tmp_path: Path) -> None:
    """The average starts from the model's weights with no step counted: after one step it is
    what a fresh average of the model makes of that step, not the old run's average, whose
    steps would make it all but ignore the new ones."""
    original = read_checkpoint(trained_model["checkpoint"])
    assert original.weight_average is not None and original.weight_average["updates"] > 1
    out = tmp_path / "one-step.pt"
    result = invoke(["train", str(new_corpus["train"]), "--init-from",
                     str(trained_model["checkpoint"]), "-o", str(out),
                     "--learning-rate", "1e-3", *ONE_STEP])
    assert result.exit_code == 0, result.output
    tuned = read_checkpoint(out)
    assert tuned.progress["steps"] == 1 and tuned.weight_average is not None
    assert tuned.weight_average["updates"] == 1
    stepped = tuned.weight_average["training_weights"]
    assert any(not torch.equal(stepped[name], value)
               for name, value in original.model_state.items())  # the step moved the weights

    fresh = WeightAverage(model_with(original, original.model_state),
                          tuned.train_config["weight_average"])
    fresh.update(model_with(original, stepped))
    for name, value in fresh.model.state_dict().items():
        torch.testing.assert_close(tuned.model_state[name], value, rtol=0, atol=1e-7)


def test_settings_of_the_model_are_refused(trained_model: dict, new_corpus: dict[str, Path],
                                           tmp_path: Path) -> None:
    model, corpus = str(trained_model["checkpoint"]), str(new_corpus["train"])
    out = tmp_path / "x.pt"
    shape = invoke(["train", corpus, "--init-from", model, "-o", str(out), "--hidden-dim", "32",
                    "--layers", "2"])
    assert shape.exit_code == 2
    assert "--hidden-dim is 32 here but 16 in the model" in shape.stderr
    assert "--layers" not in shape.stderr  # the same value as the model's is no change
    tokenizer = invoke(["train", corpus, "--init-from", model, "-o", str(out)],
                       env={"CHARLM_LOWERCASE": "0", "CHARLM_VOCABULARY_SIZE": "80"})
    assert tokenizer.exit_code == 2
    assert "CHARLM_LOWERCASE is False here" in tokenizer.stderr
    assert "CHARLM_VOCABULARY_SIZE is 80 here but 50" in tokenizer.stderr
    words = invoke(["train", corpus, "--init-from", model, "-o", str(out), "--words",
                    "whitespace", "--max-sentence-words", "50"])
    assert words.exit_code == 2
    assert "--words is 'whitespace' here but 'nltk' in the model" in words.stderr
    assert "--max-sentence-words is 50 here but 200 in the model" in words.stderr
    both = invoke(["train", corpus, "--init-from", model, "--resume", model])
    assert both.exit_code == 2 and "give one of them" in both.stderr
    missing = invoke(["train", corpus, "--init-from", str(tmp_path / "none.pt"), "-o", str(out)])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert missing.stderr.strip() == f"Error: --init-from {tmp_path / 'none.pt'}: checkpoint not "\
                                     f"found: {tmp_path / 'none.pt'}"
    assert not out.exists()


def test_a_fine_tuned_run_resumes_and_keeps_its_origin(
    trained_model: dict, new_corpus: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "tuned.pt"
    first = invoke(["train", str(new_corpus["train"]), "--init-from",
                    str(trained_model["checkpoint"]), "-o", str(out), "--epochs", "1", *FLAGS])
    assert first.exit_code == 0, first.output
    origin = torch.load(out, weights_only=True)["initialised_from"]
    resumed = invoke(["train", "--resume", str(out), "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["progress"]["epoch"] == 2
    assert checkpoint["initialised_from"] == origin


def test_a_split_given_reads_the_new_corpus_and_is_recorded(
    trained_model: dict, new_corpus: dict[str, Path], tmp_path: Path
) -> None:
    """--split says how the new corpus's lines make sentences; the model's vocabulary and words
    stay. The checkpoint records the split the corpus was read with."""
    corpus = new_corpus["train"]
    base = torch.load(trained_model["checkpoint"], weights_only=True)
    assert base["tokenizer"]["split"] == "paragraphs"  # the model's corpus is wrapped prose
    out = tmp_path / "lines.pt"
    result = invoke(["train", str(corpus), "--init-from", str(trained_model["checkpoint"]),
                     "-o", str(out), "--split", "one-per-line", *ONE_STEP])
    assert result.exit_code == 0, result.output
    assert "text split: one-per-line (set by --split)" in result.stdout
    tuned = torch.load(out, weights_only=True)
    lines = [line for line in corpus.read_text().splitlines() if line.strip()]
    assert tuned["corpus"]["sentences"] == len(lines)  # each line a sentence, cut mid-sentence
    assert tuned["tokenizer"] == base["tokenizer"] | {"split": "one-per-line"}
    assert tuned["train_config"]["split"] == "one-per-line"

    # Without --split the model's own split reads the new corpus, and the checkpoint says so.
    kept = tmp_path / "kept.pt"
    result = invoke(["train", str(corpus), "--init-from", str(trained_model["checkpoint"]),
                     "-o", str(kept), *ONE_STEP])
    assert result.exit_code == 0, result.output
    tuned = torch.load(kept, weights_only=True)
    assert tuned["tokenizer"] == base["tokenizer"]
    assert tuned["train_config"]["split"] == "paragraphs"
    assert tuned["setting_origins"]["split"] == "checkpoint"
