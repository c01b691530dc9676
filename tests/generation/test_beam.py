"""Beam search (`generate --beam`, `complete --beam`): the likeliest sentences, always the same."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import pytest
import torch
from typer.testing import CliRunner

import charlm
from charlm.cli import app
from charlm.data.vocab import END_ID, START_ID, UNKNOWN_ID, UNKNOWN_TOKEN
from charlm.errors import CharlmError
from charlm.generation.beam import LENGTH_ALPHA, beam_search
from charlm.generation.sampling import read_context, sample_sentences
from charlm.model.network import ModelConfig, RNNLanguageModel

runner = CliRunner()
WORDS = [3, 4, 5, 6]  # a vocabulary of 7: UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END and these


def tiny_model(seed: int, cell: str = "gru") -> RNNLanguageModel:
    """An untrained model of 7 tokens, its weights scaled up so that its distributions are far
    from uniform and the likeliest sentence is not the greedy one."""
    torch.manual_seed(seed)
    model = RNNLanguageModel(ModelConfig(vocab_size=7, embedding_dim=4, hidden_dim=8, layers=1,
                                         cell=cell))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3)
    return model.eval()


def log_prob(model: RNNLanguageModel, prompt: Sequence[int], new: Sequence[int]) -> float:
    """The natural log-probability of the new words and SENTENCE_END after the prompt, from one
    pass over the whole sentence."""
    ids = [START_ID, *prompt, *new, END_ID]
    with torch.no_grad():
        scores, _ = model(torch.tensor([ids[:-1]]))
    per_token = torch.log_softmax(scores[0].double(), dim=-1).gather(
        1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(per_token[len(prompt):].sum())


def exhaustive(model: RNNLanguageModel, prompt: Sequence[int], min_words: int, max_words: int,
               allow_unknown: bool) -> list[tuple[float, list[int]]]:
    """Every sentence that qualifies, with its documented score, best first."""
    choices = WORDS + ([UNKNOWN_ID] if allow_unknown else [])
    ranked = []
    for length in range(max_words - len(prompt) + 1):
        for new in itertools.product(choices, repeat=length):
            if len(prompt) + length >= min_words:
                score = log_prob(model, prompt, new) / (length + 1) ** LENGTH_ALPHA
                ranked.append((score, [*prompt, *new]))
    return sorted(ranked, key=lambda entry: entry[0], reverse=True)


@pytest.mark.parametrize(("seed", "cell", "prompt", "min_words", "allow_unknown"), [
    (3, "gru", [], 2, False), (4, "gru", [], 0, True), (6, "gru", [5], 3, False),
    (0, "lstm", [], 1, False), (3, "lstm", [4, 3], 0, True), (5, "lstm", [], 4, True),
])
def test_a_wide_beam_finds_what_exhaustive_search_finds(
    seed: int, cell: str, prompt: list[int], min_words: int, allow_unknown: bool
) -> None:
    model = tiny_model(seed, cell)
    max_words = 4
    # Wide enough to keep every hypothesis, so only the search's own rules (masks, stopping
    # rule, state bookkeeping) can make it miss the best sentences.
    width = 2 * (len(WORDS) + 1) ** (max_words - len(prompt))
    found = beam_search(model, width, 3, prompt_ids=prompt, min_words=min_words,
                        max_words=max_words, allow_unknown=allow_unknown).sentences
    expected = exhaustive(model, prompt, min_words, max_words, allow_unknown)[:3]
    assert [sentence.ids for sentence in found] == [ids for _, ids in expected]
    assert [s.score for s in found] == pytest.approx([score for score, _ in expected], abs=1e-5)
    for sentence in found:
        assert sentence.log_prob == pytest.approx(
            log_prob(model, prompt, sentence.ids[len(prompt):]), abs=1e-5)


def test_larger_beams_never_find_a_worse_best_sentence() -> None:
    # Beam search promises this of no model in general; on these it holds, and some of them
    # need a wider beam than one hypothesis to find their best sentence.
    improved = 0
    for seed, cell in itertools.product(range(6), ("gru", "lstm")):
        model = tiny_model(seed, cell)
        best = [beam_search(model, width, min_words=2, max_words=5).sentences[0].score
                for width in (1, 2, 3, 4, 8, 16)]
        assert all(wider >= narrower - 1e-6 for narrower, wider in zip(best, best[1:])), best
        improved += best[-1] > best[0] + 1e-6
    assert improved >= 3


def test_the_k_best_are_distinct_and_sorted_by_score(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"], context="sentence")
    generation = model.sample(6, beam=6, min_words=2, max_words=12, tokens=True)
    scores = [sentence.score for sentence in generation.sentences]
    assert len(scores) == 6 and scores == sorted(scores, reverse=True)
    assert len({tuple(sentence.tokens) for sentence in generation.sentences}) == 6
    for sentence in generation.sentences:
        new_tokens = len(sentence.tokens) + 1
        assert sentence.score == pytest.approx(sentence.log_prob / new_tokens ** LENGTH_ALPHA)
    assert model.generate(6, beam=6, min_words=2, max_words=12, tokens=True) == [
        sentence.text for sentence in generation.sentences]


def test_beam_one_is_greedy_decoding(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"])
    network = model.trained.model
    for prompt in ([], model.trained.vocabulary.encode(["anna"]),
                   model.trained.vocabulary.encode(["the", "dog"])):
        greedy = sample_sentences(network, 1, min_words=0, prompt_ids=prompt,
                                  allow_unknown=True, greedy=True).samples
        assert greedy, "the greedy sentence must end within max_words for the comparison"
        beam = beam_search(network, 1, prompt_ids=prompt, allow_unknown=True).sentences
        assert beam[0].ids == greedy[0].ids
        assert beam[0].log_prob == pytest.approx(greedy[0].log_prob, abs=1e-5)


def test_unknown_words_appear_only_when_allowed() -> None:
    model = tiny_model(2)
    with torch.no_grad():
        model.output.bias[UNKNOWN_ID] += 4  # UNKNOWN_TOKEN the likeliest word everywhere
    allowed = beam_search(model, 8, 8, min_words=2, max_words=6, allow_unknown=True)
    assert sum(UNKNOWN_ID in s.ids for s in allowed.sentences) >= 4
    kept = beam_search(model, 8, 8, min_words=2, max_words=6, prompt_ids=[3])
    assert len(kept.sentences) == 8
    assert all(UNKNOWN_ID not in s.ids for s in kept.sentences)


def test_the_lengths_and_the_prompt_keep_their_meaning(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"], context="sentence")
    for min_words, max_words in ((0, 6), (5, 9), (7, 7)):
        kept = model.sample(8, beam=8, min_words=min_words, max_words=max_words,
                            prompt="the dog", tokens=True)
        assert len(kept.sentences) == 8
        for sentence in kept.sentences:
            assert UNKNOWN_TOKEN not in sentence.tokens
            assert min_words <= len(sentence.tokens) <= max_words
            assert sentence.tokens[:2] == ["the", "dog"]


def test_all_beams_advance_as_one_batch_and_the_search_stops_early(trained_model: dict) -> None:
    network = charlm.load(trained_model["checkpoint"]).trained.model
    rows: list[int] = []
    hook = network.register_forward_hook(lambda module, args, output: rows.append(
        args[0].shape[0]))
    try:
        result = beam_search(network, 5, 2, min_words=1, max_words=100)
    finally:
        hook.remove()
    assert rows[0] == 1 and max(rows) == 5 and all(r <= 5 for r in rows)
    longest = max(len(sentence.ids) for sentence in result.sentences)
    # It stops once no open hypothesis can still win: without the rule it runs to max_words.
    assert len(rows) < 60, (len(rows), longest)


def generate(*args: str) -> list[str]:
    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_generate_beam_prints_the_best_sentences_the_same_every_run(
    trained_model: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = str(trained_model["checkpoint"])
    lines = generate(checkpoint, "--beam", "4", "-n", "4", "--json", "--min-words", "2")
    records = [json.loads(line) for line in lines]
    expected = charlm.load(checkpoint).sample(4, beam=4, min_words=2).sentences
    assert [r["text"] for r in records] == [s.text for s in expected]
    assert [r["score"] for r in records] == pytest.approx([s.score for s in expected])
    assert set(records[0]) == {"text", "tokens", "log_prob", "score"}
    assert generate(checkpoint, "--beam", "4", "-n", "4", "--json", "--min-words", "2",
                    "--seed", "9") == lines
    # Without --count, a beam prints the single likeliest sentence.
    assert generate(checkpoint, "--beam", "4", "--min-words", "2") == [records[0]["text"]]
    monkeypatch.setenv("CHARLM_GENERATE_BEAM", "4")
    monkeypatch.setenv("CHARLM_GENERATE_MIN_WORDS", "2")
    assert generate(checkpoint, "-n", "4", "--json") == lines


@pytest.mark.parametrize(("args", "variables", "named"), [
    (["--beam", "2", "-n", "3"], {}, "--count=3 asks for more sentences than --beam=2"),
    (["--beam", "2", "--temperature", "0.5"], {}, "--temperature shapes only sampling"),
    (["--beam", "2", "--top-k", "5"], {}, "--top-k shapes only sampling"),
    (["--beam", "2", "--top-p", "0.9"], {}, "--top-p shapes only sampling"),
    (["--beam", "2", "--greedy"], {}, "--greedy shapes only sampling"),
    (["--beam", "2"], {"CHARLM_GENERATE_TEMPERATURE": "0.5"},
     "CHARLM_GENERATE_TEMPERATURE shapes only sampling"),
    (["-n", "5"], {"CHARLM_GENERATE_BEAM": "3"},
     "--count=5 asks for more sentences than CHARLM_GENERATE_BEAM=3"),
    (["--beam", "-1"], {}, "--beam: -1 is too small"),
])
def test_generate_refuses_what_a_beam_cannot_do_in_one_line(
    trained_model: dict, monkeypatch: pytest.MonkeyPatch, args: list[str],
    variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    # Sentence context: the --count likeliest sentences, at most the beam's width.
    result = runner.invoke(app, ["generate", str(trained_model["checkpoint"]), "--context",
                                 "sentence", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:") and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_python_refuses_what_a_beam_cannot_do(trained_model: dict) -> None:
    model = charlm.load(trained_model["checkpoint"], context="sentence")
    with pytest.raises(CharlmError, match="count=3 asks for more sentences than beam=2"):
        model.sample(3, beam=2)
    with pytest.raises(CharlmError, match="top_p shapes only sampling"):
        model.generate(1, beam=2, top_p=0.5)
    with pytest.raises(CharlmError, match="temperature shapes only sampling"):
        model.complete("the dog", beam=2, temperature=0.5)


def complete(*args: str, stdin: str) -> list[dict]:
    result = runner.invoke(app, ["complete", *args, "--json"], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_complete_beam_shows_the_likeliest_continuation(
    trained_model: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = str(trained_model["checkpoint"])
    lines = ["Anna walked to", "the dog"]
    answers = complete(checkpoint, "--beam", "3", "--max-words", "4",
                       stdin="\n".join(lines) + "\n")
    for line, answer in zip(lines, answers, strict=True):
        # The continuation generate's beam finds after these words, with unknown words allowed
        # as in a sampled continuation.
        expected = generate(checkpoint, "--beam", "3", "--prompt", line, "--min-words", "0",
                            "--allow-unknown", "--max-words", str(len(answer["words"]) + 4))
        assert answer["continuation"] == expected[0]
    monkeypatch.setenv("CHARLM_COMPLETE_BEAM", "3")
    assert complete(checkpoint, "--max-words", "4", "--seed", "5",
                    stdin="\n".join(lines) + "\n") == answers
    text = runner.invoke(app, ["complete", checkpoint, "--max-words", "4"], input="the dog\n")
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[-1] == f"  likeliest continuation: {answers[1]['continuation']}"
    refused = runner.invoke(app, ["complete", checkpoint, "--temperature", "0.5"], input="a\n")
    assert refused.exit_code == 2
    assert refused.stderr.strip() == ("Error: CHARLM_COMPLETE_BEAM=3 searches for the likeliest "
                                      "sentences and --temperature shapes only sampling: drop "
                                      "one of them")


@pytest.mark.gpu
def test_the_beam_finds_the_same_on_the_gpu() -> None:
    model = tiny_model(3)
    on_cpu = beam_search(model, 8, 4, min_words=2, max_words=6).sentences
    on_gpu = beam_search(model.cuda(), 8, 4, min_words=2, max_words=6).sentences
    assert [s.ids for s in on_gpu] == [s.ids for s in on_cpu]
    assert [s.score for s in on_gpu] == pytest.approx([s.score for s in on_cpu], abs=1e-4)


def test_a_beam_writes_a_passage_of_the_likeliest_sentence_after_each(
    trained_model: dict
) -> None:
    model = charlm.load(trained_model["checkpoint"])
    assert model.context == "document"
    passage = model.sample(3, beam=2, min_words=1, allow_unknown=True).sentences
    assert len(passage) == 3  # any count: each sentence is the beam's best after the others
    network, state = model.trained.model, None
    for sentence in passage:
        best = beam_search(network, 2, 1, min_words=1, allow_unknown=True, state=state)
        assert model.trained.vocabulary.decode(best.sentences[0].ids) == sentence.tokens
        state = read_context(network, [best.sentences[0].ids], state)
    result = runner.invoke(app, ["generate", str(trained_model["checkpoint"]), "--beam", "2",
                                 "-n", "3", "--json", "--min-words", "1", "--allow-unknown"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["tokens"] for line in result.stdout.splitlines()] == [
        s.tokens for s in passage]
