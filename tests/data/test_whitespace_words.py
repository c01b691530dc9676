"""`--words whitespace`: text that is already tokenized (WikiText, the Penn Treebank) keeps its
tokens, its own <unk> included, in training and in every command that reads the model."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from helpers.training import one_error_line
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.data.tokenizer import (
    PUNKT_TRAINED,
    Tokenizer,
    TokenizerSettings,
    punkt_to_dict,
    train_punkt,
)

runner = CliRunner()
# Tokens as already-tokenized research text writes them: NLTK would split most of them.
TOKENS = ["The", "<unk>", "said", "they", "don't", "like", "it", ",", "@-@", "U.S.", "won't",
          "New", "York", "(", ")", "1", "@,@", "000"]
TRAIN = ["--words", "whitespace", "--no-lowercase", "--vocabulary-size", "0", "--split",
         "one-per-line", "--embedding-dim", "8", "--hidden-dim", "16", "--batch-size", "32",
         "--samples", "0", "--epochs", "1"]


def tokenized_lines(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(TOKENS) for _ in range(rng.randint(3, 9))) + " ."
            for _ in range(count)]


def invoke(args: list[str], stdin: str | None = None) -> Any:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("whitespace")
    train, valid = root / "train.txt", root / "valid.txt"
    train_lines, valid_lines = tokenized_lines(240, 0), tokenized_lines(30, 1)
    train.write_text("\n".join(train_lines) + "\n", encoding="utf-8")
    valid.write_text("\n".join(valid_lines) + "\n", encoding="utf-8")
    checkpoint = root / "model.pt"
    invoke(["train", str(train), "-o", str(checkpoint), *TRAIN])
    return {"checkpoint": checkpoint, "train": train, "valid": valid,
            "train_lines": train_lines, "valid_lines": valid_lines}


def settings(**values: Any) -> TokenizerSettings:
    """Tokenizer settings with a Punkt model learnt here (the tests have no punkt_tab)."""
    punkt = punkt_to_dict(train_punkt(tokenized_lines(50, 2)))
    return TokenizerSettings(lowercase=False, splitter=PUNKT_TRAINED, punkt=punkt, **values)


def test_whitespace_words_are_every_piece_whole() -> None:
    text = "The <unk> said , they don't like it @-@ U.S."
    assert Tokenizer(settings(words="whitespace")).words(text) == text.split()
    assert Tokenizer(settings()).words("they don't like <unk>") == [
        "they", "do", "n't", "like", "<unk>"]


def test_settings_without_the_word_split_read_as_nltk() -> None:
    older = settings().to_dict()
    del older["words"]
    assert Tokenizer(TokenizerSettings.from_dict(older)).words("they don't") == [
        "they", "do", "n't"]


def test_the_checkpoint_keeps_the_split_and_every_word(model: dict[str, Any]) -> None:
    checkpoint = read_checkpoint(model["checkpoint"])
    assert checkpoint.tokenizer["words"] == "whitespace"
    assert checkpoint.train_config is not None and checkpoint.train_config["words"] == "whitespace"
    # --vocabulary-size 0: every word of the corpus, as the corpus writes it.
    corpus_words = {word for line in model["train_lines"] for word in line.split()}
    assert set(checkpoint.vocabulary[3:]) == corpus_words
    assert len(checkpoint.vocabulary) == len(corpus_words) + 3
    assert checkpoint.written_forms is None


def test_evaluate_and_score_count_the_texts_own_tokens(model: dict[str, Any]) -> None:
    lines = model["valid_lines"]
    evaluated = json.loads(invoke(["evaluate", str(model["checkpoint"]), str(model["valid"]),
                                   "--json"]).stdout)
    # Each line one sentence; its SENTENCE_END plays <eos>: the tokens papers count.
    assert evaluated["sentences"] == len(lines)
    assert evaluated["tokens"] == sum(len(line.split()) + 1 for line in lines)
    assert evaluated["oov_words"] == 0
    rows = [json.loads(line) for line in invoke(
        ["score", str(model["checkpoint"]), str(model["valid"]), "--json"]).stdout.splitlines()]
    assert [(r["text"], r["tokens"], r["oov"]) for r in rows[:-1]] == [
        (line, len(line.split()) + 1, 0) for line in lines]


def test_complete_reads_a_prompt_as_training_did(model: dict[str, Any], tmp_path: Path) -> None:
    prompt = "they don't like <unk> @-@"
    args = [str(model["checkpoint"]), "--json", "--seed", "1"]
    (answer,) = [json.loads(line) for line in invoke(["complete", *args], prompt + "\n")
                 .stdout.splitlines()]
    assert (answer["words"], answer["unknown"]) == (prompt.split(), [])
    # The same checkpoint without the setting, as charlm wrote it before: NLTK's words.
    document = load_checkpoint(model["checkpoint"])
    del document["tokenizer"]["words"]
    older = tmp_path / "older.pt"
    save_checkpoint(document, older)
    (answer,) = [json.loads(line) for line in invoke(["complete", str(older), *args[1:]],
                                                     prompt + "\n").stdout.splitlines()]
    assert answer["words"] == ["they", "do", "n't", "like", "<unk>", "@", "-", "@"]


def test_fine_tuning_keeps_the_models_word_split(model: dict[str, Any], tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(model["valid"]), "--init-from",
                                 str(model["checkpoint"]), "--words", "nltk",
                                 "-o", str(tmp_path / "tuned.pt")])
    line = one_error_line(result, 2)
    assert "--words is 'nltk' here but 'whitespace' in the model" in line
    assert not (tmp_path / "tuned.pt").exists()
