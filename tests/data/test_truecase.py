"""Output in the corpus's own casing: each vocabulary word's most frequent written form, kept
with the prepared corpus and the checkpoint, shown by generate, complete and score."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.generation.sampling import detokenize

runner = CliRunner()
TEMPLATES = [
    "Yesterday Mr. Darcy met Elizabeth in London.",
    "Elizabeth said that Mr. Darcy had gone to London.",
    "Then I saw Mr. Darcy and Elizabeth near London.",
    "In London, I met Elizabeth and Mr. Darcy.",
    "She told me that I was late.",
]
# Less frequent forms of the same words: the most frequent form must win over them.
RARE = ["MR. DARCY WAS IN LONDON.", "The letter from london was late."]
# The words written otherwise than the model reads them, and how the corpus mostly writes them.
NAMED = {"darcy": "Darcy", "elizabeth": "Elizabeth", "london": "London", "mr.": "Mr.", "i": "I"}
TRAIN = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "0",
         "--batch-size", "16", "--samples", "0", "--epochs", "4", "--learning-rate", "0.01",
         "--print-every", "100000", "--seed", "3"]


def write_named_corpus(path: Path, sentences: int = 300, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = [rng.choice(RARE) if rng.random() < 0.05 else rng.choice(TEMPLATES)
             for _ in range(sentences)]
    paragraphs = [" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3)]
    path.write_text("\n\n".join(textwrap.fill(p, 60) for p in paragraphs) + "\n",
                    encoding="utf-8")
    return path


def invoke(args: list[str], stdin: str | None = None) -> Any:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    return result


def json_lines(args: list[str], stdin: str | None = None) -> list[dict]:
    return [json.loads(line) for line in invoke(args, stdin).stdout.splitlines()]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model trained on the corpus, and the same checkpoint as charlm wrote it before written
    forms: without the field."""
    root = tmp_path_factory.mktemp("truecase")
    corpus = write_named_corpus(root / "named.txt")
    model = root / "model.pt"
    invoke(["train", str(corpus), "-o", str(model), *TRAIN])
    document = load_checkpoint(model)
    del document["written_forms"]
    older = root / "older.pt"
    save_checkpoint(document, older)
    return {"corpus": corpus, "model": model, "older": older}


def test_each_word_takes_its_most_frequent_written_form(tmp_path: Path) -> None:
    corpus = write_named_corpus(tmp_path / "named.txt")
    vocabulary = prepare_corpus(str(corpus), PrepareSettings(vocabulary_size=0)).vocabulary
    forms = dict(zip(vocabulary.words, vocabulary.written))
    assert {word: forms[word] for word in NAMED} == NAMED
    # A capital that only starts sentences says nothing of how a word is written.
    assert (forms["yesterday"], forms["then"], forms["was"]) == ("yesterday", "then", "was")
    assert vocabulary.as_written(["mr.", "darcy", "zebra"]) == ["Mr.", "Darcy", "zebra"]


def test_text_not_lowercased_has_no_forms_but_its_words(tmp_path: Path) -> None:
    corpus = write_named_corpus(tmp_path / "named.txt")
    vocabulary = prepare_corpus(str(corpus), PrepareSettings(vocabulary_size=0,
                                                             lowercase=False)).vocabulary
    assert vocabulary.written_forms is None
    assert vocabulary.written == vocabulary.words and "Darcy" in vocabulary.words


def plain_words(text: str) -> set[str]:
    return {word.strip(",.?!\"'") for word in text.split()} | set(text.split())


def test_generate_writes_the_corpus_casing_unless_told_not_to(models: dict[str, Path]) -> None:
    args = ["generate", str(models["model"]), "--json", "-n", "30", "--seed", "1",
            "--allow-unknown"]
    cased = json_lines(args)
    plain = json_lines([*args, "--no-truecase"])
    # The same sentences, the same tokens: only how they are written differs.
    assert [r["tokens"] for r in cased] == [r["tokens"] for r in plain]
    assert [r["log_prob"] for r in cased] == [r["log_prob"] for r in plain]
    shown = set().union(*(plain_words(r["text"]) for r in cased))
    assert set(NAMED.values()) <= shown
    assert not shown & set(NAMED)
    assert [r["text"] for r in plain] == [detokenize(r["tokens"]) for r in plain]
    older = json_lines(["generate", str(models["older"]), *args[2:]])
    assert older == plain


def test_complete_shows_next_words_and_continuation_as_written(models: dict[str, Path]
                                                               ) -> None:
    args = ["complete", str(models["model"]), "--json", "--next-words", "40", "--seed", "2"]
    line = "then i saw mr. darcy and\n"
    (cased,) = json_lines(args, line)
    (plain,) = json_lines([*args, "--no-truecase"], line)
    assert cased["words"] == plain["words"] == ["then", "i", "saw", "mr.", "darcy", "and"]
    assert [(e["word"], e["probability"]) for e in cased["next"]] == [
        (NAMED.get(e["word"], e["word"]), e["probability"]) for e in plain["next"]]
    shown = {e["word"] for e in cased["next"]}
    assert {"Darcy", "Elizabeth", "London"} <= shown and not shown & set(NAMED)
    assert cased["continuation"].startswith("Then I saw Mr. Darcy and ")
    assert plain["continuation"].startswith("Then i saw mr. darcy and ")
    assert cased["continuation"].lower() == plain["continuation"].lower()
    (older,) = json_lines(["complete", str(models["older"]), *args[2:]], line)
    assert older == plain


def test_score_shows_each_sentence_as_the_input_writes_it(models: dict[str, Path],
                                                          tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text("Yesterday Mr. Darcy met Elizabeth\nin London. Then I saw Mr. Darcy.\n",
                    encoding="utf-8")
    args = ["score", str(models["model"]), str(text), "--json"]
    cased = json_lines(args)[:-1]
    plain = json_lines([*args, "--no-truecase"])[:-1]
    older = json_lines(["score", str(models["older"]), *args[2:]])[:-1]
    # Read as paragraphs, as the model's corpus was: the wrapped line is joined.
    assert [r["text"] for r in cased] == ["Yesterday Mr. Darcy met Elizabeth in London.",
                                          "Then I saw Mr. Darcy."]
    assert [r["text"] for r in plain] == ["yesterday mr. darcy met elizabeth in london.",
                                          "then i saw mr. darcy."]
    assert older == plain
    assert [r["log_prob"] for r in cased] == [r["log_prob"] for r in plain]


def test_python_api_truecases_by_default(models: dict[str, Path]) -> None:
    import charlm

    cased = charlm.load(models["model"])
    plain = charlm.load(models["model"], truecase=False)
    assert cased.as_written(["i", "met", "darcy"]) == ["I", "met", "Darcy"]
    assert plain.as_written(["i", "met", "darcy"]) == ["i", "met", "darcy"]
    sentences = cased.generate(5, seed=4, allow_unknown=True)
    assert [s.lower() for s in sentences] == [
        s.lower() for s in plain.generate(5, seed=4, allow_unknown=True)]
    assert charlm.load(models["older"]).generate(5, seed=4, allow_unknown=True) == (
        plain.generate(5, seed=4, allow_unknown=True))


def test_fine_tuning_and_resuming_keep_the_models_forms(models: dict[str, Path],
                                                        tmp_path: Path) -> None:
    forms = read_checkpoint(models["model"]).written_forms
    assert forms is not None
    # A corpus all in lowercase would give every word its lowercase form: the model's stay.
    lowercase = tmp_path / "lower.txt"
    lowercase.write_text(models["corpus"].read_text(encoding="utf-8").lower(), encoding="utf-8")
    tuned = tmp_path / "tuned.pt"
    invoke(["train", str(lowercase), "--init-from", str(models["model"]), "-o", str(tuned),
            "--epochs", "1", "--batch-size", "64", "--samples", "0"])
    assert read_checkpoint(tuned).written_forms == forms
    resumed = tmp_path / "resumed.pt"
    invoke(["train", str(models["corpus"]), "-o", str(resumed), *TRAIN[:-8], "--epochs", "1"])
    before = read_checkpoint(resumed).written_forms
    invoke(["train", "--resume", str(resumed), "--epochs", "2"])
    assert before is not None and read_checkpoint(resumed).written_forms == before
