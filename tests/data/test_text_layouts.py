"""Text as people have it: one sentence per line, repetitive prose, wrapped prose, and how the split
setting reads each of them, from `charlm train` to `charlm evaluate`."""

from __future__ import annotations

import json
import random
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import sentence, write_corpus
from helpers.training import TINY, one_error_line
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.data.cache import cached_prepare
from charlm.data.corpus import read_paragraphs
from charlm.data.layout import choose_split, decide_split, measure_layout
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.tokenizer import Tokenizer, TokenizerSettings, punkt_to_dict, train_punkt

WORDS = ("apple river blue stone quick happy garden song night light dream city road home heart "
         "fire rain sky love time").split()
# A children's reader: a few short sentences, over and over.
READER = ["The cat sat on the mat.", "The dog ran far away from home.", "Sam has a red ball.",
          "We like to play in the park.", "Mum made a big cake."]


def unpunctuated_lines(path: Path, count: int, seed: int = 0) -> Path:
    """One sentence per line, as song lyrics or headlines: no punctuation at all."""
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))).capitalize()
             for _ in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def repetitive_prose(path: Path, paragraphs: int, seed: int = 0) -> tuple[Path, int]:
    """Wrapped paragraphs of the reader's sentences, and how many sentences were written."""
    rng = random.Random(seed)
    written = 0
    blocks = []
    for _ in range(paragraphs):
        count = rng.randint(2, 6)
        written += count
        blocks.append(textwrap.fill(" ".join(rng.choice(READER) for _ in range(count)), 60))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path, written


def train(corpus: Path, out: Path, *extra: str) -> Any:
    result = CliRunner().invoke(app, ["train", str(corpus), "-o", str(out), "--epochs", "1",
                                      "--threads", "1", *TINY, *extra])
    assert "Traceback" not in result.output
    return result


def sentences_trained_and_validated(output: str) -> int:
    found = re.search(r"training on ([\d,]+) sentences, validating on ([\d,]+)", output)
    assert found, output
    return sum(int(group.replace(",", "")) for group in found.groups())


def evaluate_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)



def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def lines_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("lines")
    corpus = unpunctuated_lines(root / "lyrics.txt", 300)
    result = train(corpus, root / "lyrics.pt")
    return {"root": root, "checkpoint": root / "lyrics.pt", "result": result}


def test_one_unpunctuated_sentence_per_line_trains_with_defaults(lines_model: dict) -> None:
    result = lines_model["result"]
    assert result.exit_code == 0, result.output
    assert "text split: lines (auto: 0 of 300 lines looked at hold sentence punctuation" in (
        result.output)
    assert sentences_trained_and_validated(result.output) == 300
    checkpoint = read_checkpoint(lines_model["checkpoint"])
    assert checkpoint.tokenizer["split"] == "lines"
    assert checkpoint.train_config["split"] == "auto"


def test_evaluate_reads_a_file_of_the_same_kind_with_the_checkpoints_split(
    lines_model: dict,
) -> None:
    other = unpunctuated_lines(lines_model["root"] / "more-lyrics.txt", 80, seed=5)
    report = evaluate_json(str(lines_model["checkpoint"]), str(other))
    assert report["split"] == ["lines"]
    assert report["sentences"] == 80


def test_evaluate_split_overrides_the_checkpoints(lines_model: dict) -> None:
    root = lines_model["root"]
    other = root / "punctuated.txt"
    other.write_text("Rain falls. Sky is blue\nLove the city\n", encoding="utf-8")
    checkpoint = str(lines_model["checkpoint"])
    assert evaluate_json(checkpoint, str(other))["sentences"] == 3
    one_per_line = evaluate_json(checkpoint, str(other), "--split", "one-per-line")
    assert (one_per_line["split"], one_per_line["sentences"]) == (["one-per-line"], 2)
    joined = evaluate_json(checkpoint, str(other), "--split", "paragraphs")
    assert (joined["split"], joined["sentences"]) == (["paragraphs"], 2)
    # Unpunctuated lines joined into one paragraph make one sentence too long to evaluate.
    lyrics = unpunctuated_lines(root / "long-lyrics.txt", 100, seed=9)
    before = snapshot(root)
    result = CliRunner().invoke(app, ["evaluate", checkpoint, str(lyrics), "--split",
                                      "paragraphs"])
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "seems to have no sentence boundaries when read as paragraphs" in line
    assert "--split lines" in line
    assert snapshot(root) == before


def test_repetitive_prose_trains_with_every_sentence(tmp_path: Path) -> None:
    corpus, written = repetitive_prose(tmp_path / "reader.txt", 120)
    result = train(corpus, tmp_path / "reader.pt")
    assert result.exit_code == 0, result.output
    assert "text split: paragraphs (auto: lines are wrapped at about" in result.output
    assert sentences_trained_and_validated(result.output) == written
    assert read_checkpoint(tmp_path / "reader.pt").tokenizer["split"] == "paragraphs"
    other, other_written = repetitive_prose(tmp_path / "reader-2.txt", 20, seed=3)
    report = evaluate_json(str(tmp_path / "reader.pt"), str(other))
    assert (report["split"], report["sentences"]) == (["paragraphs"], other_written)


def test_repeated_sentence_ends_are_not_learnt_as_abbreviations() -> None:
    units = [" ".join(random.Random(i).choice(READER) for _ in range(4)).lower()
             for i in range(100)]
    abbreviations = train_punkt(units).abbrev_types
    assert not abbreviations & {"mat", "home", "ball", "park", "cake"}


def test_real_abbreviations_still_hold_inside_sentences() -> None:
    rng = random.Random(0)
    starts = ["She", "He", "It", "The day", "They", "Her sister", "In the morning she"]
    names = ["Bennet", "Darcy", "Bingley", "Collins", "Wickham", "Lucas"]
    units = [" ".join(f"{rng.choice(starts)} spoke to {rng.choice(['Mr.', 'Mrs.'])} "
                      f"{rng.choice(names)} about the {rng.choice(['ball', 'weather', 'house'])}."
                      for _ in range(rng.randint(2, 5))).lower() for _ in range(150)]
    tokenizer = Tokenizer(TokenizerSettings(splitter="punkt/trained-on-corpus",
                                            punkt=punkt_to_dict(train_punkt(units))))
    assert tokenizer.sentences("She spoke to Mr. Darcy about the ball. It rained.") == [
        "she spoke to mr. darcy about the ball.", "it rained."]
    assert len(tokenizer.sentences("He spoke to Mrs. Lucas about the house.")) == 1
    # The names that follow "Mr." start every paragraph; that "Mr." begins sentences keeps it.
    units = [f"{rng.choice(names)} was {rng.choice(['late', 'happy'])}? Mr. {rng.choice(names)} "
             f"walked {rng.choice(['home', 'away'])}.".lower() for _ in range(150)]
    tokenizer = Tokenizer(TokenizerSettings(splitter="punkt/trained-on-corpus",
                                            punkt=punkt_to_dict(train_punkt(units))))
    assert tokenizer.sentences("Darcy was late? Mr. Lucas walked home. Bennet was happy?") == [
        "darcy was late?", "mr. lucas walked home.", "bennet was happy?"]


def test_austen_like_wrapped_prose_reads_as_paragraphs(tmp_path: Path) -> None:
    with_blank_lines = write_corpus(tmp_path / "novel.txt", sentences=400)
    result = train(with_blank_lines, tmp_path / "novel.pt")
    assert result.exit_code == 0, result.output
    assert "text split: paragraphs (auto: lines are wrapped at about 60 characters" in (
        result.output)
    assert sentences_trained_and_validated(result.output) == 400
    assert read_checkpoint(tmp_path / "novel.pt").tokenizer["split"] == "paragraphs"
    # The same prose wrapped without blank lines between paragraphs, evaluated with the model.
    rng = random.Random(4)
    text = " ".join(sentence(rng) for _ in range(60))
    no_blank_lines = tmp_path / "unbroken.txt"
    no_blank_lines.write_text(textwrap.fill(text, 60) + "\n", encoding="utf-8")
    assert choose_split(no_blank_lines, "auto").mode == "paragraphs"
    report = evaluate_json(str(tmp_path / "novel.pt"), str(no_blank_lines))
    assert (report["split"], report["sentences"]) == (["paragraphs"], 60)
    auto = evaluate_json(str(tmp_path / "novel.pt"), str(no_blank_lines), "--split", "auto")
    assert (auto["split"], auto["sentences"]) == (["paragraphs"], 60)


def test_explicit_split_is_stored_and_changes_the_cache_key(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "novel.txt", sentences=40)
    settings = PrepareSettings(vocabulary_size=40)
    paragraphs, hit = cached_prepare(str(corpus), settings, cache_dir=tmp_path / "c")
    assert (paragraphs.split.mode, hit) == ("paragraphs", False)
    lines, hit = cached_prepare(str(corpus), PrepareSettings(vocabulary_size=40, split="lines"),
                                cache_dir=tmp_path / "c")
    assert (lines.split.mode, lines.split.reason, hit) == ("lines", "set by --split", False)
    assert lines.tokenizer.settings.split == "lines"
    # Wrapped sentences cut at every line break: more, shorter pieces.
    assert len(lines.sentences) > len(paragraphs.sentences)
    again, hit = cached_prepare(str(corpus), settings, cache_dir=tmp_path / "c")
    assert hit and again.split == paragraphs.split


def test_lines_never_join_and_one_per_line_never_splits(tmp_path: Path) -> None:
    path = tmp_path / "titles.txt"
    path.write_text("First title\nsecond title. With two sentences\n\nthird\n", encoding="utf-8")
    assert list(read_paragraphs(path)) == [
        "First title second title. With two sentences", "third"]
    assert list(read_paragraphs(path, split="lines")) == [
        "First title", "second title. With two sentences", "third"]
    settings = PrepareSettings(vocabulary_size=40, split="lines")
    assert len(prepare_corpus(str(path), settings).sentences) == 4
    one_per_line = prepare_corpus(str(path), PrepareSettings(vocabulary_size=40,
                                                             split="one-per-line"))
    assert len(one_per_line.sentences) == 3


def test_csv_rows_and_directory_members_follow_the_same_rule(tmp_path: Path) -> None:
    folder = tmp_path / "chats"
    folder.mkdir()
    unpunctuated_lines(folder / "a.txt", 50, seed=1)
    unpunctuated_lines(folder / "b.txt", 70, seed=2)
    assert choose_split(folder, "auto").mode == "lines"
    assert len(prepare_corpus(str(folder), PrepareSettings(vocabulary_size=40)).sentences) == 120
    rows = tmp_path / "messages.csv"
    rng = random.Random(3)
    with open(rows, "w", encoding="utf-8", newline="") as handle:
        handle.write("id,body\n")
        for i in range(40):
            field = "\n".join(" ".join(rng.choice(WORDS) for _ in range(5)) for _ in range(3))
            handle.write(f'{i},"{field}"\n')
    assert choose_split(rows, "auto").mode == "lines"
    assert len(prepare_corpus(str(rows), PrepareSettings(vocabulary_size=40)).sentences) == 120


def test_long_standalone_lines_do_not_hide_wrapping() -> None:
    wrapped = textwrap.fill(" ".join(READER * 3), 60).splitlines()
    sample = wrapped + ["", " ".join(["word"] * 300) + "."] * 10
    assert decide_split(measure_layout(sample)).mode == "paragraphs"
    ragged = ["a short one", "then a much longer line that goes on", "mid length line", "end"]
    assert decide_split(measure_layout(ragged * 20)).mode == "lines"


def test_older_checkpoints_read_text_as_paragraphs(lines_model: dict, tmp_path: Path) -> None:
    document = load_checkpoint(lines_model["checkpoint"])
    del document["tokenizer"]["split"]
    old = tmp_path / "old.pt"
    save_checkpoint(document, old)
    text = tmp_path / "two-lines.txt"
    text.write_text("Rain falls on the city\nLove the sky\n", encoding="utf-8")
    report = evaluate_json(str(old), str(text))
    assert (report["split"], report["sentences"]) == (["paragraphs"], 1)
    assert TokenizerSettings.from_dict({"lowercase": True}).split == "paragraphs"
