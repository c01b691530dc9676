"""Training on a fixed vocabulary (`train --vocabulary`): the checkpoint holds the list's words,
and a run that starts from it (--resume, --init-from) takes a list only if it holds those words,
wherever it lies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import write_corpus
from helpers.training import one_error_line
from typer.testing import CliRunner

from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.data.vocab import SPECIAL_TOKENS

runner = CliRunner()
FLAGS = ["--embedding-dim", "8", "--hidden-dim", "8", "--batch-size", "16", "--samples", "0",
         "--print-every", "100000", "--device", "cpu"]
# Words of the generated corpus (lowercased, as --lowercase reads it), "Anna" as a recogniser
# might write it, and one word the corpus never holds.
WORDS = ["the", "garden", "was", "happy", ".", "walked", "to", "Anna", "zebra"]


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def listed_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("listed")
    corpus = write_corpus(root / "corpus.txt", sentences=120)
    words = root / "words.txt"
    words.write_text("\n".join(["<unk>", *WORDS]) + "\n", encoding="utf-8")
    out = root / "model.pt"
    result = invoke(["train", str(corpus), "--vocabulary", str(words), "-o", str(out),
                     "--epochs", "1", *FLAGS])
    assert result.exit_code == 0, result.output
    return {"corpus": corpus, "words": words, "out": out, "output": result.output}


def test_the_checkpoint_holds_the_lists_words(listed_model: dict[str, Any]) -> None:
    checkpoint = read_checkpoint(listed_model["out"])
    assert checkpoint.vocabulary[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    # Every word of the list, once, <unk> being UNKNOWN_TOKEN; the most frequent first.
    assert sorted(checkpoint.vocabulary[len(SPECIAL_TOKENS):]) == sorted(WORDS)
    assert checkpoint.vocabulary.index("the") < checkpoint.vocabulary.index("zebra")
    assert checkpoint.train_config["vocabulary"] == str(listed_model["words"])
    # "Anna" never occurs in text lowercased, and the run says so.
    assert ("1 of the 9 words of the list " f"{listed_model['words']} have capitals (e.g. Anna)"
            in " ".join(listed_model["output"].split()))


def test_resume_takes_a_list_of_the_same_words_wherever_it_lies(
    listed_model: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "resumed.pt"
    same = tmp_path / "kaldi-words.txt"
    same.write_text("".join(f"{word} {i}\n" for i, word in enumerate(reversed(WORDS))),
                    encoding="utf-8")
    resumed = invoke(["train", "--resume", str(listed_model["out"]), "-o", str(out),
                      "--vocabulary", str(same), "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert read_checkpoint(out).vocabulary == read_checkpoint(listed_model["out"]).vocabulary


def test_resume_and_init_from_refuse_a_list_of_other_words(listed_model: dict[str, Any],
                                                           tmp_path: Path) -> None:
    model, corpus = str(listed_model["out"]), str(listed_model["corpus"])
    other = tmp_path / "other.txt"
    other.write_text("\n".join([*WORDS[:-1], "meadow"]) + "\n", encoding="utf-8")
    out = tmp_path / "refused.pt"
    resumed = invoke(["train", "--resume", model, "-o", str(out), "--vocabulary", str(other),
                      "--epochs", "2"])
    assert one_error_line(resumed, 2) == (
        f"Error: cannot resume {model} with other settings: --vocabulary {other} holds other "
        "words than the checkpoint's vocabulary: 1 not in the checkpoint's (e.g. meadow); 1 of "
        "the checkpoint's not in it (e.g. zebra). Leave them out to continue with the "
        "checkpoint's, or start a new run")
    tuned = invoke(["train", corpus, "--init-from", model, "-o", str(out), "--vocabulary",
                    str(other)])
    assert one_error_line(tuned, 2).startswith(
        f"Error: --init-from {model} keeps the model's vocabulary, tokenizer settings and shape: "
        f"--vocabulary {other} holds other words than the model's vocabulary: 1 not in the "
        "model's (e.g. meadow)")
    assert not out.exists()


def test_resume_and_init_from_need_no_list(tmp_path: Path) -> None:
    """The checkpoint holds the words: a list moved or deleted since is never read again."""
    corpus = write_corpus(tmp_path / "corpus.txt", sentences=60)
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    first = tmp_path / "first.pt"
    trained = invoke(["train", str(corpus), "--vocabulary", str(words), "-o", str(first),
                      "--epochs", "1", *FLAGS])
    assert trained.exit_code == 0, trained.output
    words.unlink()
    resumed = invoke(["train", "--resume", str(first), "-o", str(tmp_path / "resumed.pt"),
                      "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    tuned = invoke(["train", str(corpus), "--init-from", str(first), "-o",
                    str(tmp_path / "tuned.pt"), "--epochs", "1", *FLAGS])
    assert tuned.exit_code == 0, tuned.output
    vocabulary = read_checkpoint(first).vocabulary
    assert read_checkpoint(tmp_path / "resumed.pt").vocabulary == vocabulary
    assert read_checkpoint(tmp_path / "tuned.pt").vocabulary == vocabulary
