"""Dynamic evaluation (`evaluate --dynamic`, `score --dynamic`, `dynamic=` in Python): the model
adapts to the text while reading it, every token scored before the model learns from it."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.training import config_of, one_error_line, quiet_reporter, tiny_flags
from typer.testing import CliRunner

import charlm
from charlm.api import Model
from charlm.checkpoint.optimizers import OPTIMIZER_KINDS
from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.cli import app
from charlm.errors import ConfigError
from charlm.evaluation.dynamic import reading_segments, square_averages
from charlm.evaluation.dynamic_settings import DynamicSettings
from charlm.training.loop import run_training

runner = CliRunner()
PASSAGE = ("Frank returned to the old house after dinner. Emma was worried on sunday. Did Grace "
           "see the hill at noon? Mr. Ben painted the river, and quiet.")
# A rate well above the default, so that a step changes every later score visibly.
EAGER = DynamicSettings(segment_tokens=64, rate=0.05, decay=0.0)
# Batched with other sentences, a sentence's scores can change in float32's last bit (as plain
# evaluation's do from one --batch-size to another): figures compared exactly are scored one
# sentence per batch, as plain evaluation with --batch-size 1 scores them.
ALONE = 1


def score_text(model: Model, text: str, dynamic: bool | DynamicSettings = False) -> np.ndarray:
    """Every token's surprisal of `text`, read as the model's training text was."""
    sentences = model.text_sentences(text)
    return model.score_sentences([t for t, _ in sentences], [w for _, w in sentences],
                                 "the text", ALONE, dynamic).surprisal


def copy_surprisals(model: Model, copies: int, decay: float) -> list[float]:
    """The surprisal of each copy of PASSAGE in a text that repeats it, a step after each
    sentence."""
    sentences = model.text_sentences(" ".join([PASSAGE] * copies))
    scores = model.score_sentences([t for t, _ in sentences], [w for _, w in sentences], "text",
                                   dynamic=DynamicSettings(1, 0.001, decay)).scores
    per_copy = len(scores) // copies
    return [-sum(s.log_prob for s in scores[i * per_copy:(i + 1) * per_copy])
            for i in range(copies)]


def test_segments_are_whole_sentences_in_reading_order() -> None:
    lengths = np.random.default_rng(0).integers(0, 30, size=200)
    segments = reading_segments(lengths, 50)
    assert np.array_equal(np.concatenate(segments), np.arange(200))
    for segment in segments[:-1]:
        tokens = lengths[segment] + 1
        assert tokens.sum() >= 50 > tokens[:-1].sum()  # it ends at the sentence reaching 50
    assert (lengths[segments[-1]] + 1).sum() <= 50 + lengths.max()
    assert [len(s) for s in reading_segments(lengths[:3], 10**6)] == [3]


def test_the_first_segment_is_scored_as_plain_evaluation_scores_it(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    valid = [str(trained_model["valid"])]
    plain = model.evaluate_files(valid, batch_size=ALONE)
    dynamic = model.evaluate_files(valid, batch_size=ALONE, dynamic=EAGER)
    # The first segment: the first sentences, in reading order, up to 64 predicted tokens.
    tokens = np.cumsum(plain.sentences.lengths + 1)
    first = int(tokens[np.argmax(tokens >= EAGER.segment_tokens)])
    assert np.array_equal(dynamic.surprisal[:first], plain.surprisal[:first])
    # After it, the model has learned: no later token is scored as before.
    assert not np.any(dynamic.surprisal[first:] == plain.surprisal[first:])
    assert dynamic.summary.tokens == plain.summary.tokens


def test_a_sentence_is_scored_from_the_text_before_it_alone(trained_model: dict) -> None:
    """What comes after a sentence never changes its score: each segment is scored before the
    model learns from it, and segments are read in order."""
    model = charlm.load(trained_model["checkpoint"])
    opening = trained_model["valid"].read_text(encoding="utf-8")
    first = score_text(model, opening + "\n\nAnna was happy. Ben was tired.", EAGER)
    second = score_text(model, opening + "\n\n" + PASSAGE, EAGER)
    shared = len(score_text(model, opening))
    assert np.array_equal(first[:shared], second[:shared])
    assert not np.array_equal(first[:shared], score_text(model, opening))  # it did adapt


def test_a_repeated_passage_reads_better_dynamic(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    text = " ".join([PASSAGE] * 10)
    settings = DynamicSettings(segment_tokens=32)  # the default rate and decay
    plain = model.evaluate(text)
    dynamic = model.evaluate(text, dynamic=settings)
    assert dynamic.perplexity < 0.97 * plain.perplexity
    assert (dynamic.dynamic, dynamic.dynamic_settings) == (True, settings.to_dict())
    assert (plain.dynamic, plain.dynamic_settings) == (False, None)


def test_rate_zero_is_plain_evaluation(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    valid = [str(trained_model["valid"])]
    plain = model.evaluate_files(valid, batch_size=ALONE)
    still = model.evaluate_files(valid, batch_size=ALONE,
                                 dynamic=DynamicSettings(segment_tokens=16, rate=0.0, decay=0.5))
    # Equal to float32's rounding, not to the last bit: dynamic evaluation reads in segments
    # of its own, and a matrix product of another shape (or alignment) may round its last
    # digit otherwise. Any step of adaptation moves the surprisals far more than this.
    np.testing.assert_allclose(still.surprisal, plain.surprisal, rtol=1e-6, atol=1e-6)
    assert still.summary.loss == pytest.approx(plain.summary.loss, rel=1e-6)


def test_full_decay_keeps_only_the_last_step(trained_model: dict) -> None:
    """With decay 1 each step starts again from the trained weights, so what the model learned
    does not add up: every copy after the first scores as the second does. Without decay the
    copies keep getting likelier."""
    model = charlm.load(trained_model["checkpoint"])
    kept = copy_surprisals(model, 6, decay=0.0)
    assert all(later < earlier for earlier, later in zip(kept, kept[1:]))
    assert kept[-1] < 0.97 * kept[1]
    reset = copy_surprisals(model, 6, decay=1.0)
    assert reset[-1] == pytest.approx(reset[1], rel=1e-3)


def test_the_checkpoint_and_the_loaded_model_never_change(trained_model: dict,
                                                          tmp_path: Path) -> None:
    checkpoint, valid = trained_model["checkpoint"], str(trained_model["valid"])
    before = checkpoint.read_bytes()
    for command in ("evaluate", "score"):
        result = runner.invoke(app, [command, str(checkpoint), valid, "--dynamic",
                                     "--dynamic-rate", "0.05", "--dynamic-segment", "64"])
        assert result.exit_code == 0, result.output
    assert checkpoint.read_bytes() == before
    model = charlm.load(checkpoint)
    plain = model.evaluate(valid)
    model.evaluate(valid, dynamic=EAGER)
    assert model.evaluate(valid) == plain  # the model it adapted a copy of is as it was


def test_api_and_cli_agree_to_the_last_digit(trained_model: dict, tmp_path: Path) -> None:
    checkpoint, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])
    flags = ["--dynamic", "--dynamic-segment", "100", "--dynamic-rate", "0.02",
             "--dynamic-decay", "0.1"]
    settings = DynamicSettings(segment_tokens=100, rate=0.02, decay=0.1)
    per_token = tmp_path / "tokens.tsv"
    evaluated = runner.invoke(app, ["evaluate", checkpoint, valid, "--json", "--per-token",
                                    str(per_token), *flags])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    model = charlm.load(checkpoint)
    files = model.evaluate_files([valid], dynamic=settings)
    assert {k: v for k, v in report.items() if k not in ("model", "per_token")} == (
        json.loads(json.dumps(asdict(files.summary))))
    assert report["dynamic"] is True and report["dynamic_settings"] == settings.to_dict()
    with open(per_token, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    bits = files.surprisal / np.log(2)
    assert [r["surprisal_bits"] for r in rows] == [f"{b:.6f}" for b in bits]

    scored = runner.invoke(app, ["score", checkpoint, valid, "--json", *flags])
    assert scored.exit_code == 0, scored.output
    records = [json.loads(line) for line in scored.stdout.splitlines()]
    scoring = model.score_text([valid], dynamic=settings)
    assert [r["log_prob"] for r in records[:-1]] == [s.log_prob for s in scoring.scores]
    assert records[-1]["summary"]["loss"] == scoring.summary.loss == files.summary.loss
    table = runner.invoke(app, ["evaluate", checkpoint, valid, *flags])
    assert "dynamic       adapted while reading: segments of 100 tokens, rate 0.02, decay 0.1" in (
        table.stdout.splitlines())
    assert "dynamic" not in runner.invoke(app, ["evaluate", checkpoint, valid]).stdout


def test_bad_settings_are_one_line(trained_model: dict, tmp_path: Path) -> None:
    checkpoint, valid = str(trained_model["checkpoint"]), str(trained_model["valid"])

    def error(*flags: str, env: dict[str, str] | None = None) -> str:
        return one_error_line(runner.invoke(app, ["evaluate", checkpoint, valid, *flags],
                                            env=env), code=2)

    assert "--dynamic-rate: -0.1 is too small; it must be at least 0" in error(
        "--dynamic", "--dynamic-rate", "-0.1")
    assert "--dynamic-decay: 2.0 is too large" in error("--dynamic", "--dynamic-decay", "2")
    assert "--dynamic-segment: 0 is too small" in error("--dynamic", "--dynamic-segment", "0")
    assert "--dynamic-rate: nan is not a finite number" in error("--dynamic", "--dynamic-rate",
                                                                 "nan")
    assert "--dynamic-rate applies only with --dynamic" in error("--dynamic-rate", "0.01")
    assert "CHARLM_SCORE_DYNAMIC_DECAY: -1.0 is too small" in one_error_line(runner.invoke(
        app, ["score", checkpoint, valid, "--dynamic"],
        env={"CHARLM_SCORE_DYNAMIC_DECAY": "-1"}), code=2)
    # A model-only checkpoint has no mean squared gradients of training to divide by.
    stored = read_checkpoint(checkpoint)
    model_only = tmp_path / "model-only.pt"
    Checkpoint(stored.model_config, stored.model_state, stored.vocabulary,
               stored.tokenizer).save(model_only)
    refused = one_error_line(runner.invoke(app, ["score", str(model_only), valid, "--dynamic"]),
                             code=1)
    assert "no optimizer state" in refused
    model = charlm.load(checkpoint)
    with pytest.raises(ConfigError, match="rate=: -1 is too small; it must be at least 0"):
        model.evaluate(valid, dynamic=DynamicSettings(rate=-1))
    with pytest.raises(ConfigError, match="segment_tokens=: 0 is too small; it must be at least 1"):
        model.score(["Anna was happy."], dynamic=DynamicSettings(segment_tokens=0))
    with pytest.raises(ConfigError, match="give True, False or DynamicSettings"):
        model.score(["Anna was happy."], dynamic="yes")  # type: ignore[arg-type]


def test_adams_mean_squared_gradients_are_corrected_for_their_start_at_zero() -> None:
    # The same gradient at every step: its mean square is its square. Adam's running mean,
    # started at zero, holds (1 − β₂^t) of it after t steps, and Adam's steps divide by that.
    weight = torch.nn.Parameter(torch.zeros(3))
    adam = torch.optim.Adam([weight], lr=0.1)
    gradient = torch.tensor([0.5, -2.0, 3.0])
    for _ in range(10):
        weight.grad = gradient.clone()
        adam.step()
    squares = OPTIMIZER_KINDS["adam"].squares
    assert squares is not None
    gradients = square_averages(adam.state_dict(), squares)
    assert torch.allclose(gradients.square_averages[0], gradient**2)
    assert (gradients.decay, gradients.epsilon) == (0.999, 1e-8)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_model_trained_with_adam_adapts_and_one_trained_with_sgd_is_refused(
    optimizer: str, corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / f"{optimizer}.pt"
    rate = 0.01 if optimizer == "adam" else 1.0
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=2,
                                        optimizer=optimizer, learning_rate=rate,
                                        print_every=100_000)), quiet_reporter())
    text = tmp_path / "repeated.txt"
    text.write_text(" ".join([PASSAGE] * 10), encoding="utf-8")
    if optimizer == "sgd":
        refused = one_error_line(runner.invoke(app, ["evaluate", str(out), str(text),
                                                     "--dynamic"]), code=1)
        assert (f"{out} was trained with --optimizer sgd, which keeps no mean squared "
                "gradients") in refused
        return
    model = charlm.load(out)
    plain = model.evaluate(str(text))
    dynamic = model.evaluate(str(text), dynamic=DynamicSettings(segment_tokens=32))
    assert dynamic.perplexity < 0.97 * plain.perplexity


def test_a_model_trained_with_sgd_adapts_on_gradients_measured_on_its_training_text(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sgd.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=2,
                                        optimizer="sgd", learning_rate=1.0,
                                        print_every=100_000)), quiet_reporter())
    text = tmp_path / "repeated.txt"
    text.write_text(" ".join([PASSAGE] * 10), encoding="utf-8")
    model = charlm.load(out)
    settings = DynamicSettings(segment_tokens=32, rate=0.005, gradients_from=str(corpus_file))
    plain = model.evaluate(str(text))
    dynamic = model.evaluate(str(text), dynamic=settings)
    assert dynamic.perplexity < 0.97 * plain.perplexity
    assert dynamic.dynamic_settings["gradients_from"] == str(corpus_file)
    command = runner.invoke(app, ["evaluate", str(out), str(text), "--json", "--dynamic",
                                  "--dynamic-segment", "32", "--dynamic-rate", "0.005",
                                  "--dynamic-gradients",
                                  str(corpus_file)])
    assert command.exit_code == 0, command.output
    assert json.loads(command.stdout)["perplexity"] == dynamic.perplexity
    alone = one_error_line(runner.invoke(app, ["evaluate", str(out), str(text),
                                               "--dynamic-gradients", str(corpus_file)]), 2)
    assert "--dynamic-gradients applies only with --dynamic" in alone


def test_measured_gradients_are_the_mean_of_each_segments_squared_gradient(
    trained_model: dict,
) -> None:
    from charlm.evaluation.dynamic import GradientMeter
    from charlm.evaluation.scoring import token_surprisals

    model = charlm.load(trained_model["checkpoint"])
    sentences = model.evaluate_files([str(trained_model["valid"])]).sentences
    settings = DynamicSettings(segment_tokens=200)
    meter = GradientMeter(model.trained.model, settings)
    token_surprisals(model.trained.model, sentences, model.device, 7, meter, "sentence")
    # By hand: each segment's sentences read one at a time from a zero state, the gradient of
    # the segment's mean loss per token, squared; the squares averaged over the segments.
    network = meter.model
    expected = [torch.zeros_like(p) for p in network.parameters()]
    segments = reading_segments(sentences.lengths, settings.segment_tokens)
    for segment in segments:
        network.zero_grad()
        total = sum(int(sentences.lengths[i]) + 1 for i in segment)
        for i in segment:
            ids = torch.as_tensor(sentences.sentence(int(i)).astype(np.int64))
            inputs = torch.cat([torch.tensor([1]), ids])[None]
            targets = torch.cat([ids, torch.tensor([2])])[None]
            losses, _ = network.token_losses(inputs, targets, None)
            (losses.sum() / total).backward()
        for sums, weight in zip(expected, network.parameters()):
            sums += weight.grad.square()
    measured = meter.gradients().square_averages
    for got, sums in zip(measured, expected):
        torch.testing.assert_close(got, sums / len(segments), rtol=1e-4, atol=1e-12)
