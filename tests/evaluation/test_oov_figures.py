"""The figures that compare with an n-gram tool's on the same text (KenLM's perplexity including
and excluding OOVs, SRILM's logprob, ppl and ppl1) and the per-token file in SRILM's `ngram -ppl
-debug 2` layout, checked against a hand-counted text whose every probability is read from the
model itself."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import write_corpus
from helpers.training import one_error_line
from typer.testing import CliRunner

import charlm
from charlm.cli import app
from charlm.data.vocab import END_ID, UNKNOWN_ID

runner = CliRunner()
# Every word of the text below but "zebra" and "ben": those two are its OOVs.
WORDS = ["anna", "walked", "to", "the", "was", "happy", ".", "garden", "clara"]
TEXT = "Anna walked to the zebra.\n\nBen was happy.\n"
# Counted by hand: the text's sentences as the model's tokenizer reads them (lowercased).
SENTENCES = [["anna", "walked", "to", "the", "zebra", "."], ["ben", "was", "happy", "."]]
# A number standing alone between spaces, as the layout prints its figures.
NUMBER = re.compile(r"(?<!\S)-?(?:inf|[0-9]+(?:\.[0-9]*)?(?:e[+-][0-9]+)?)(?!\S)")


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny model on a fixed vocabulary, each sentence read alone, and the text to score."""
    root = tmp_path_factory.mktemp("oov-figures")
    words = root / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    model = root / "model.pt"
    result = runner.invoke(app, [
        "train", str(write_corpus(root / "corpus.txt", sentences=160)), "--vocabulary",
        str(words), "--context", "sentence", "-o", str(model), "--epochs", "1",
        "--embedding-dim", "8", "--hidden-dim", "8", "--batch-size", "16", "--samples", "0",
        "--device", "cpu"])
    assert result.exit_code == 0, result.output
    text = root / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    return {"model": str(model), "text": str(text)}


def token_log_probs(model: charlm.Model, words: list[str]) -> list[tuple[bool, float]]:
    """Each predicted token of a sentence read alone (its words, then its end): whether it is
    known, and its natural log-probability, read from the model one prefix at a time."""
    ids = [model.trained.vocabulary.index.get(word, UNKNOWN_ID) for word in words]
    return [(target != UNKNOWN_ID,
             math.log(float(model.next_word_probabilities(ids[:i])[target])))
            for i, target in enumerate([*ids, END_ID])]


def expected_figures(listed: dict[str, Any]) -> dict[str, float]:
    model = charlm.load(listed["model"])
    tokens = [token for words in SENTENCES for token in token_log_probs(model, words)]
    assert len(tokens) == 12  # 10 words and 2 sentence ends
    known = sum(log_prob for is_known, log_prob in tokens if is_known) / math.log(10)
    return {"logprob": known,
            "ppl": 10 ** (-known / (10 - 2 + 2)),  # the words and ends but the 2 OOVs
            "ppl1": 10 ** (-known / (10 - 2)),  # the words but the OOVs
            "including": math.exp(-sum(log_prob for _, log_prob in tokens) / 12)}


def test_evaluate_names_the_figures_as_kenlm_and_srilm(listed: dict[str, Any]) -> None:
    expected = expected_figures(listed)
    result = runner.invoke(app, ["evaluate", listed["model"], listed["text"], "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    srilm = report["srilm"]
    assert {k: srilm[k] for k in ("sentences", "words", "oovs", "zeroprobs")} == {
        "sentences": 2, "words": 10, "oovs": 2, "zeroprobs": 0}
    assert srilm["logprob"] == pytest.approx(expected["logprob"], rel=1e-5)
    assert srilm["ppl"] == pytest.approx(expected["ppl"], rel=1e-5)
    assert srilm["ppl1"] == pytest.approx(expected["ppl1"], rel=1e-5)
    # KenLM's excluding OOVs is SRILM's ppl; including OOVs, every token.
    assert report["perplexity_excluding_unknown"] == srilm["ppl"]
    assert report["perplexity"] == pytest.approx(expected["including"], rel=1e-5)
    # The Python API returns the very figures the command prints.
    evaluated = charlm.load(listed["model"]).evaluate(listed["text"])
    assert json.loads(json.dumps(asdict(evaluated.srilm))) == srilm
    table = runner.invoke(app, ["evaluate", listed["model"], listed["text"]]).stdout
    rows = {line[:14].strip(): line[14:] for line in table.splitlines()}
    assert rows["perplexity"].endswith("(including OOVs, as KenLM's: every token)")
    assert rows["excl. OOVs"].startswith(f"perplexity {srilm['ppl']:.2f} over the 10 tokens")
    assert rows["SRILM"] == (
        f"2 sentences, 10 words, 2 OOVs, 0 zeroprobs, logprob= {srilm['logprob']:g} ppl= "
        f"{srilm['ppl']:g} ppl1= {srilm['ppl1']:g}")


def srilm_layout(listed: dict[str, Any]) -> list[str]:
    """The per-token file's lines as SRILM's ngram -ppl -debug 2 would print them, from the
    model's own probabilities: each sentence, its tokens, its summary and a blank line; then the
    file's summary."""
    model = charlm.load(listed["model"])
    lines, totals = [], [0, 0, 0, 0.0]
    for words in SENTENCES:
        tokens = token_log_probs(model, words)
        shown = [w if known else "<unk>" for w, (known, _) in zip(words, tokens)]
        lines.append(" ".join(words))
        for position, (word, (known, log_prob)) in enumerate(zip([*shown, "</s>"], tokens)):
            history = f"{shown[position - 1]} ...)" if position else "<s> )"
            scored = (f"[rnn] {math.exp(log_prob):g} [ {log_prob / math.log(10):g} ]" if known
                      else "[OOV] 0 [ -inf ]")
            lines.append(f"\tp( {word} | {history} \t= {scored}")
        oovs = shown.count("<unk>")
        logprob = sum(lp for known, lp in tokens if known) / math.log(10)
        scored = len(words) - oovs
        lines += [f"1 sentences, {len(words)} words, {oovs} OOVs",
                  f"0 zeroprobs, logprob= {logprob:g} ppl= {10 ** (-logprob / (scored + 1)):g} "
                  f"ppl1= {10 ** (-logprob / scored):g}", ""]
        totals = [totals[0] + 1, totals[1] + len(words), totals[2] + oovs, totals[3] + logprob]
    sentences, words_count, oovs, logprob = totals
    scored = words_count - oovs
    return lines + [
        f"file {listed['text']}: {sentences} sentences, {words_count} words, {oovs} OOVs",
        f"0 zeroprobs, logprob= {logprob:g} ppl= {10 ** (-logprob / (scored + sentences)):g} "
        f"ppl1= {10 ** (-logprob / scored):g}"]


def assert_same_layout(got: list[str], expected: list[str]) -> None:
    """The same lines, to the character but for the numbers, which agree to 5 digits (the
    model's batched scores and its one-prefix-at-a-time probabilities differ in the last)."""
    assert [NUMBER.sub("N", line) for line in got] == [NUMBER.sub("N", line) for line in expected]
    for line, want in zip(got, expected):
        numbers = [float(n) for n in NUMBER.findall(line)]
        assert numbers == pytest.approx([float(n) for n in NUMBER.findall(want)], rel=1e-4), line


def test_per_token_in_srilms_layout(listed: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ppl.txt"
    args = ["evaluate", listed["model"], listed["text"], "--per-token", str(out),
            "--per-token-format", "srilm", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every line ends in a newline
    assert_same_layout(lines[:-1], srilm_layout(listed))
    # As SRILM's ppl-from-log reads it: the tenth field of each token's line is its log10
    # probability, -inf for an OOV; the known ones add up to the file's logprob.
    fields = [line.split() for line in lines if line.startswith("\tp( ")]
    assert len(fields) == 12 and sum(f[9] == "-inf" for f in fields) == 2
    summary = json.loads(result.stdout)["srilm"]
    assert sum(float(f[9]) for f in fields if f[9] != "-inf") == pytest.approx(
        summary["logprob"], abs=1e-4)
    # Its own file is replaced with --force, and only with it.
    refused = runner.invoke(app, args)
    assert "already holds a per-token file of charlm evaluate" in one_error_line(refused, 1)
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_srilm_layout_needs_a_per_token_file(listed: dict[str, Any]) -> None:
    result = runner.invoke(app, ["evaluate", listed["model"], listed["text"],
                                 "--per-token-format", "srilm"])
    assert one_error_line(result, 2) == ("Error: --per-token-format lays out the --per-token "
                                         "file, and none is given: give --per-token FILE")
