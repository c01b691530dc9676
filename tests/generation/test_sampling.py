"""Top-k and nucleus sampling, JSON output and seeds of `charlm generate`."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from typer.testing import CliRunner

import charlm
from charlm.checkpoint.trained import load_trained
from charlm.cli import app
from charlm.data.vocab import END_ID, START_ID
from charlm.generation.sampling import sampling_probabilities

runner = CliRunner()


def generate(*args: str) -> list[str]:
    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_top_k_keeps_exactly_the_k_most_likely() -> None:
    logits = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
    probs = sampling_probabilities(logits, top_k=3)
    assert torch.equal((probs > 0).sum(dim=1), torch.full((5,), 3))
    kept = probs > 0
    expected = torch.zeros_like(kept).scatter(1, logits.topk(3, dim=1).indices, True)
    assert torch.equal(kept, expected)
    assert torch.allclose(probs.sum(dim=1), torch.ones(5))


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert (sampling_probabilities(logits, top_p=0.4) > 0).tolist() == [[True, False, False,
                                                                           False]]
    assert (sampling_probabilities(logits, top_p=0.75) > 0).tolist() == [[True, True, False,
                                                                            False]]
    assert (sampling_probabilities(logits, top_p=0.9) > 0).tolist() == [[True, True, True, False]]
    assert (sampling_probabilities(logits, top_p=1.0) > 0).all()


def test_top_p_on_random_distributions() -> None:
    logits = torch.randn(20, 30, generator=torch.Generator().manual_seed(1)) * 2
    top_p = 0.6
    kept = sampling_probabilities(logits, top_p=top_p) > 0
    full = torch.softmax(logits, dim=1)
    for row in range(20):
        # Every kept word is more likely than every dropped one, the kept mass reaches p, and
        # dropping the least likely kept word would fall short of p.
        kept_probs, dropped = full[row][kept[row]], full[row][~kept[row]]
        if len(dropped):
            assert kept_probs.min() >= dropped.max()
        assert kept_probs.sum() >= top_p - 1e-6
        assert kept_probs.sum() - kept_probs.min() < top_p


def test_temperature_combines_with_top_k() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    cold = sampling_probabilities(logits, temperature=0.5, top_k=2)
    warm = sampling_probabilities(logits, temperature=2.0, top_k=2)
    assert (cold > 0).sum() == (warm > 0).sum() == 2
    assert cold[0, 0] > warm[0, 0]


def test_top_k_one_and_a_tiny_top_p_equal_greedy(trained_model: dict) -> None:
    model = str(trained_model["checkpoint"])
    common = ["-n", "4", "--allow-unknown", "--min-words", "0", "--tokens"]
    greedy = generate(model, "--greedy", *common)
    assert len(greedy) == 4
    assert generate(model, "--top-k", "1", "--seed", "3", *common) == greedy
    assert generate(model, "--top-p", "0.000001", "--seed", "4", *common) == greedy


def test_same_seed_same_sentences(trained_model: dict) -> None:
    model = str(trained_model["checkpoint"])
    args = ["-n", "6", "--top-k", "10", "--top-p", "0.9", "--temperature", "0.8"]
    first = generate(model, "--seed", "11", *args)
    assert generate(model, "--seed", "11", *args) == first
    assert generate(model, "--seed", "12", *args) != first


def test_json_lines_carry_the_models_log_probability(trained_model: dict) -> None:
    # Each sentence alone: its log-probability after SENTENCE_START (test_context checks a
    # passage's, each sentence after the ones before).
    lines = generate(str(trained_model["checkpoint"]), "--json", "-n", "3", "--seed", "5",
                     "--top-p", "0.9", "--context", "sentence")
    trained = load_trained(trained_model["checkpoint"])
    assert len(lines) == 3
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"text", "tokens", "log_prob"}
        ids = [START_ID, *trained.vocabulary.encode(record["tokens"]), END_ID]
        with torch.no_grad():
            logits, _ = trained.model(torch.tensor([ids[:-1]]))
        expected = torch.log_softmax(logits[0].double(), dim=-1).gather(
            1, torch.tensor(ids[1:])[:, None]).sum()
        assert record["log_prob"] == pytest.approx(float(expected), abs=1e-4)
        assert record["log_prob"] < 0


@pytest.mark.parametrize("flag", [["--top-p", "0"], ["--top-p", "1.5"], ["--top-k", "-1"]])
def test_bad_sampling_settings_are_refused(trained_model: dict, flag: list[str]) -> None:
    result = runner.invoke(app, ["generate", str(trained_model["checkpoint"]), *flag])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:") and flag[0] in result.stderr


def test_a_weak_models_passage_is_as_long_as_its_sentences_alone(trained_model: dict) -> None:
    # Sentences of 16 words or more are rare for the tiny model (one in six or seven, a little
    # fewer after a sentence than from nothing): most draws are rejected, in either context.
    options = {"min_words": 16, "seed": 5}
    model = charlm.load(trained_model["checkpoint"])
    assert model.context == "document"
    passage = model.sample(100, **options)
    alone = charlm.load(trained_model["checkpoint"], context="sentence").sample(100, **options)
    assert len(alone.sentences) == 100
    assert len(passage.sentences) == 100
    assert passage.rejected > 3 * len(passage.sentences)
    assert all(len(sentence.tokens) >= 16 for sentence in passage.sentences)


@pytest.mark.parametrize("context", ["document", "sentence"])
def test_generate_warns_when_fewer_sentences_qualify(trained_model: dict, context: str) -> None:
    checkpoint = str(trained_model["checkpoint"])
    model = charlm.load(checkpoint, context=context)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all qualify: nothing to warn of
        assert len(model.generate(3, seed=1)) == 3
    # No sentence of the tiny model reaches 95 words: none qualifies, and the command's error
    # is the API's warning.
    with pytest.warns(charlm.CharlmWarning) as warned:
        assert model.generate(3, seed=1, min_words=95) == []
    assert len(warned) == 1
    assert str(warned[0].message).startswith("only 0 of 3 sentences qualified after 60 attempts")
    result = runner.invoke(app, ["generate", checkpoint, "-n", "3", "--seed", "1",
                                 "--min-words", "95", "--context", context])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"Error: {warned[0].message}"


def test_generate_warns_of_a_part_as_the_command_does(trained_model: dict) -> None:
    # About one sentence in forty reaches 30 words: of the 20 tries each sentence asked for
    # has, about half the sentences asked for qualify.
    checkpoint = str(trained_model["checkpoint"])
    model = charlm.load(checkpoint, context="sentence")
    with pytest.warns(charlm.CharlmWarning) as warned:
        found = model.generate(300, seed=2, min_words=30)
    assert 0 < len(found) < 300
    assert str(warned[0].message).startswith(f"only {len(found)} of 300 sentences qualified")
    result = runner.invoke(app, ["generate", checkpoint, "-n", "300", "--seed", "2",
                                 "--min-words", "30", "--context", "sentence"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == found
    assert result.stderr.splitlines()[-1] == f"Warning: {warned[0].message}"


def test_detokenized_text_reads_as_a_sentence() -> None:
    from charlm.generation.sampling import detokenize

    assert detokenize(["``", "it", "is", "late", ",", "''", "she", "said", "."]) == (
        '"It is late," she said.'
    )
    assert detokenize(["he", "did", "n't", "."]) == "He didn't."
