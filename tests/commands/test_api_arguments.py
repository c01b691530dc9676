"""Every argument of the Python API is checked against its command's flag: a value out of range is
a charlm.ConfigError in the flag's own words, naming the argument (`temperature=`) where the
command names the flag, and the edge values the flag allows still work."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.training import one_error_line
from typer.testing import CliRunner

import charlm
from charlm.cli import app
from charlm.evaluation.dynamic_settings import DynamicSettings

runner = CliRunner()
SENTENCES = ["Anna walked to the garden.", "Ben was tired."]
TEXT = "Anna walked to the garden. Ben was tired."

Call = Callable[[charlm.Model, str], Any]
# Each call of the API with a value out of range: the name the message gives the argument, and
# the command line (after the checkpoint; its flag second to last) that refuses the same value.
REFUSED: dict[str, tuple[Call, str, list[str]]] = {
    "generate temperature=0": (lambda m, _: m.generate(2, temperature=0.0), "temperature",
                               ["generate", "--temperature", "0"]),
    "generate temperature<0": (lambda m, _: m.generate(2, temperature=-1.0), "temperature",
                               ["generate", "--temperature", "-1"]),
    "generate temperature=nan": (lambda m, _: m.generate(2, temperature=math.nan), "temperature",
                                 ["generate", "--temperature", "nan"]),
    "generate temperature too high": (lambda m, _: m.generate(2, temperature=101.0),
                                      "temperature", ["generate", "--temperature", "101"]),
    "generate count=0": (lambda m, _: m.generate(0), "count", ["generate", "--count", "0"]),
    "generate count too high": (lambda m, _: m.generate(1_000_001), "count",
                                ["generate", "--count", "1000001"]),
    "generate top_k<0": (lambda m, _: m.generate(2, top_k=-1), "top_k",
                         ["generate", "--top-k", "-1"]),
    "generate top_p=0": (lambda m, _: m.generate(2, top_p=0.0), "top_p",
                         ["generate", "--top-p", "0"]),
    "generate top_p>1": (lambda m, _: m.generate(2, top_p=1.5), "top_p",
                         ["generate", "--top-p", "1.5"]),
    "generate seed<0": (lambda m, _: m.generate(2, seed=-1), "seed", ["generate", "--seed", "-1"]),
    "generate seed too high": (lambda m, _: m.generate(2, seed=2**32), "seed",
                               ["generate", "--seed", str(2**32)]),
    "generate min_words<0": (lambda m, _: m.generate(2, min_words=-1), "min_words",
                             ["generate", "--min-words", "-1"]),
    "generate max_words=0": (lambda m, _: m.generate(2, max_words=0), "max_words",
                             ["generate", "--max-words", "0"]),
    "sample greedy temperature=0": (lambda m, _: m.sample(1, greedy=True, temperature=0.0),
                                    "temperature", ["generate", "--greedy", "--temperature", "0"]),
    "sample beam<0": (lambda m, _: m.sample(1, beam=-1), "beam", ["generate", "--beam", "-1"]),
    "sample beam too wide": (lambda m, _: m.sample(1, beam=1001), "beam",
                             ["generate", "--beam", "1001"]),
    "next_words k<0": (lambda m, _: m.next_words("anna", k=-1), "k",
                       ["complete", "--next-words", "-1"]),
    "next_words k=0": (lambda m, _: m.next_words("anna", k=0), "k",
                       ["complete", "--next-words", "0"]),
    "next_words k too high": (lambda m, _: m.next_words("anna", k=10_001), "k",
                              ["complete", "--next-words", "10001"]),
    "complete k<0": (lambda m, _: m.complete("anna", k=-1), "k",
                     ["complete", "--next-words", "-1"]),
    "complete max_words=0": (lambda m, _: m.complete("anna", max_words=0), "max_words",
                             ["complete", "--max-words", "0"]),
    "complete max_words too high": (lambda m, _: m.complete("anna", max_words=1001), "max_words",
                                    ["complete", "--max-words", "1001"]),
    "complete temperature=0": (lambda m, _: m.complete("anna", temperature=0.0), "temperature",
                               ["complete", "--temperature", "0"]),
    "complete beam<0": (lambda m, _: m.complete("anna", beam=-1), "beam",
                        ["complete", "--beam", "-1"]),
    "score context": (lambda m, _: m.score(SENTENCES, context="x"), "context",
                      ["score", "--context", "x"]),
    "score dynamic rate<0": (lambda m, _: m.score(SENTENCES, dynamic=DynamicSettings(rate=-1.0)),
                             "rate", ["score", "--dynamic", "--dynamic-rate", "-1"]),
    "score dynamic segment=0": (
        lambda m, _: m.score(SENTENCES, dynamic=DynamicSettings(segment_tokens=0)),
        "segment_tokens", ["score", "--dynamic", "--dynamic-segment", "0"]),
    "score_text batch_size=0": (lambda m, f: m.score_text([f], batch_size=0), "batch_size",
                                ["score", "--batch-size", "0"]),
    "score_text batch_size too high": (lambda m, f: m.score_text([f], batch_size=65_537),
                                       "batch_size", ["score", "--batch-size", "65537"]),
    "score_text split": (lambda m, f: m.score_text([f], split="words"), "split",
                         ["score", "--split", "words"]),
    "score_text context": (lambda m, f: m.score_text([f], context="x"), "context",
                           ["score", "--context", "x"]),
    "evaluate batch_size=0": (lambda m, f: m.evaluate(f, batch_size=0), "batch_size",
                              ["evaluate", "--batch-size", "0"]),
    "evaluate text batch_size=0": (lambda m, _: m.evaluate(TEXT, batch_size=0), "batch_size",
                                   ["evaluate", "--batch-size", "0"]),
    "evaluate split": (lambda m, f: m.evaluate(f, split="words"), "split",
                       ["evaluate", "--split", "words"]),
    "evaluate context": (lambda m, f: m.evaluate(f, context="x"), "context",
                         ["evaluate", "--context", "x"]),
    "evaluate dynamic decay>1": (
        lambda m, f: m.evaluate(f, dynamic=DynamicSettings(decay=1.5)), "decay",
        ["evaluate", "--dynamic", "--dynamic-decay", "1.5"]),
    "evaluate_files batch_size=0": (lambda m, f: m.evaluate_files([f], batch_size=0),
                                    "batch_size", ["evaluate", "--batch-size", "0"]),
    "load device": (lambda m, _: charlm.load(m.path, device="gpu"), "device",
                    ["generate", "--device", "gpu"]),
    "load context": (lambda m, _: charlm.load(m.path, context="x"), "context",
                     ["generate", "--context", "x"]),
    "train epochs=0": (lambda m, f: charlm.train(f, Path(m.path).with_name("new.pt"), epochs=0),
                       "epochs", ["train", "--epochs", "0"]),
}


@pytest.fixture(scope="module")
def model(trained_model: dict) -> charlm.Model:
    return charlm.load(trained_model["checkpoint"])


@pytest.mark.parametrize("case", REFUSED)
def test_an_argument_out_of_range_is_refused_in_its_flags_words(
    model: charlm.Model, trained_model: dict, case: str
) -> None:
    call, argument, command = REFUSED[case]
    flag = command[-2]
    # The command refuses the value before it reads the checkpoint (or the corpus).
    line = one_error_line(runner.invoke(app, [command[0], str(trained_model["checkpoint"]),
                                              *command[1:]]), code=2)
    assert line.startswith(f"Error: {flag}: ")
    with pytest.raises(charlm.ConfigError) as refused:
        call(model, str(trained_model["valid"]))
    assert str(refused.value) == line.removeprefix("Error: ").replace(flag, f"{argument}=")


def test_words_no_sentence_could_qualify_are_refused_as_the_command_refuses_them(
    model: charlm.Model, trained_model: dict
) -> None:
    line = one_error_line(runner.invoke(app, [
        "generate", str(trained_model["checkpoint"]), "--min-words", "5", "--max-words", "3"]),
        code=2)
    with pytest.raises(charlm.ConfigError) as refused:
        model.generate(2, min_words=5, max_words=3)
    assert str(refused.value) == (line.removeprefix("Error: ").replace("--min-words", "min_words")
                                  .replace("--max-words", "max_words"))


@pytest.mark.parametrize("call, message", [
    (lambda m, f: m.score_text([]), "no file to score"),
    (lambda m, f: m.evaluate(""), "nothing to evaluate"),
    (lambda m, f: m.evaluate_files([]), "no file to evaluate on"),
    (lambda m, f: m.score([]), "no sentences to score"),
    (lambda m, f: m.score_text([f + ".missing"]), "corpus not found"),
    (lambda m, f: m.evaluate(f + ".missing"), "corpus not found"),
    (lambda m, f: charlm.load(f + ".missing"), "checkpoint not found"),
], ids=["score_text none", "evaluate empty", "evaluate_files none", "score none",
        "score_text missing", "evaluate missing", "load missing"])
def test_empty_inputs_and_missing_paths_are_refused_in_one_line(
    model: charlm.Model, trained_model: dict, call: Call, message: str
) -> None:
    with pytest.raises(charlm.CharlmError, match=message) as refused:
        call(model, str(trained_model["valid"]))
    assert "\n" not in str(refused.value)


def test_the_edge_values_the_flags_allow_still_work(
    model: charlm.Model, trained_model: dict
) -> None:
    valid = str(trained_model["valid"])
    assert len(model.generate(1, temperature=100.0, top_k=0, top_p=1.0, seed=0, min_words=0,
                              allow_unknown=True)) == 1
    # A sentence of at most one word may not come: sample reports that, where generate warns.
    assert len(model.sample(1, temperature=0.01, seed=2**32 - 1, max_words=1, min_words=0,
                            allow_unknown=True).sentences) <= 1
    assert len(model.sample(1, beam=1000, allow_unknown=True).sentences) == 1
    assert len(model.next_words("anna", k=1)) == 1
    assert len(model.next_words("anna", k=10_000)) == len(model.vocabulary)
    completion = model.complete("anna", k=1, max_words=1000, temperature=100.0)
    assert len(completion.next_words) == 1
    assert model.complete("anna", max_words=1, beam=1000).next_words
    evaluation = model.evaluate(valid)
    for batch_size in (1, 65_536):
        assert model.evaluate(valid, batch_size=batch_size).loss == pytest.approx(
            evaluation.loss, rel=1e-5)
        assert len(model.score_text([valid], batch_size=batch_size).scores) == (
            evaluation.sentences)
    adapted = model.score(SENTENCES, dynamic=DynamicSettings(segment_tokens=1, rate=0.0,
                                                             decay=1.0))
    assert [s.log_prob for s in adapted] == pytest.approx([s.log_prob for s in
                                                           model.score(SENTENCES)], rel=1e-5)
    assert charlm.load(model.path, device="auto").vocabulary == model.vocabulary
