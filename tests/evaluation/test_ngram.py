"""Interpolation with an n-gram model (--ngram): each token's probability λ·P_ngram +
(1 − λ)·P_charlm, checked against the two models' probabilities computed separately, and λ chosen
on a development text."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers.training import one_error_line
from typer.testing import CliRunner

import charlm
from charlm.cli import app
from charlm.data.vocab import UNKNOWN_ID

pytestmark = pytest.mark.extra("ngram")
runner = CliRunner()


def write_arpa(path: Path, sentences: list[list[str]]) -> Path:
    """An interpolated bigram model of `sentences` as an ARPA file: P(b | a) = 0.15·P_ML(b | a)
    + 0.85·P(b), written in backoff form (the listed bigrams, and a backoff of 0.85)."""
    unigrams = Counter(w for words in sentences for w in [*words, "</s>"])
    unigrams["<unk>"] += 1
    total = sum(unigrams.values())
    pairs = Counter(p for words in sentences
                    for p in zip(["<s>", *words], [*words, "</s>"]))
    firsts = Counter(a for a, _ in pairs.elements())
    backoff = math.log10(0.85)
    lines = ["\\data\\", f"ngram 1={len(unigrams) + 1}", f"ngram 2={len(pairs)}", "",
             "\\1-grams:", f"-99\t<s>\t{backoff:.6f}"]
    lines += [f"{math.log10(c / total):.6f}\t{w}\t{backoff:.6f}" for w, c in unigrams.items()]
    lines += ["", "\\2-grams:"]
    lines += [f"{math.log10(0.15 * c / firsts[a] + 0.85 * unigrams[b] / total):.6f}\t{a} {b}"
              for (a, b), c in pairs.items()]
    path.write_text("\n".join([*lines, "", "\\end\\", ""]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setting(trained_model: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    model = charlm.load(trained_model["checkpoint"])
    train = model.evaluate_files([str(trained_model["train"])]).sentences
    names = ["<unk>" if i == UNKNOWN_ID else w for i, w in enumerate(model.vocabulary)]
    sentences = [[names[i] for i in train.sentence(k)] for k in range(len(train))]
    arpa = write_arpa(tmp_path_factory.mktemp("ngram") / "bigram.arpa", sentences)
    return {"model": model, "arpa": arpa, "valid": str(trained_model["valid"]),
            "train": str(trained_model["train"]), "checkpoint": str(trained_model["checkpoint"])}


def kenlm_surprisals(arpa: Path, scoring: charlm.api.Scoring, vocabulary: list[str]
                     ) -> np.ndarray:
    """The n-gram's surprisal of every token, from KenLM directly: each sentence's words as
    charlm's vocabulary writes them, its unknown words as <unk>, read from <s> to </s>."""
    import kenlm

    ngram = kenlm.Model(str(arpa))
    sentences = scoring.sentences
    out = []
    for i in range(len(sentences)):
        words = ["<unk>" if j == UNKNOWN_ID else vocabulary[j] for j in sentences.sentence(i)]
        out += [-p * math.log(10) for p, _, _ in ngram.full_scores(" ".join(words))]
    return np.array(out)


def test_each_token_is_the_mixture_of_the_two_models_computed_separately(setting: dict) -> None:
    model, arpa, valid = setting["model"], setting["arpa"], setting["valid"]
    plain = model.evaluate_files([valid])
    ngram = kenlm_surprisals(arpa, plain, model.vocabulary)
    assert (plain.sentences.ids == UNKNOWN_ID).any()  # the <unk> rule is exercised
    mixed = model.evaluate_files([valid], ngram=model.ngram_mix(arpa, 0.3))
    expected = [-math.log(0.3 * math.exp(-n) + 0.7 * math.exp(-c))
                for n, c in zip(ngram, plain.surprisal)]
    assert mixed.surprisal.tolist() == pytest.approx(expected, rel=1e-12, abs=0)
    assert mixed.summary.ngram == {"path": str(arpa), "order": 2, "weight": 0.3}
    assert f"{mixed.summary.perplexity:.4f}" == f"{math.exp(sum(expected) / len(expected)):.4f}"


def test_weights_zero_and_one_give_each_model_alone(setting: dict) -> None:
    model, arpa, valid = setting["model"], setting["arpa"], setting["valid"]
    plain = model.evaluate_files([valid])
    charlm_only = model.evaluate_files([valid], ngram=model.ngram_mix(arpa, 0))
    ngram_only = model.evaluate_files([valid], ngram=model.ngram_mix(arpa, 1.0))
    assert charlm_only.surprisal.tolist() == plain.surprisal.tolist()
    assert ngram_only.surprisal.tolist() == kenlm_surprisals(arpa, plain,
                                                             model.vocabulary).tolist()


def test_sentence_scores_mix_too(setting: dict) -> None:
    model, arpa = setting["model"], setting["arpa"]
    texts = ["the cat sat on the mat .", "a zebra ."]
    plain = model.score(texts)
    mixed = model.score(texts, ngram=model.ngram_mix(arpa, 0.5))
    assert [s.tokens for s in mixed] == [s.tokens for s in plain]
    assert all(m.log_prob != p.log_prob for m, p in zip(mixed, plain))


def mixture_perplexity(model: charlm.Model, arpa: Path, text: str, weight: float) -> float:
    return model.evaluate_files([text], ngram=model.ngram_mix(arpa, weight)).summary.perplexity


def test_auto_chooses_the_weight_the_development_text_likes_best(setting: dict) -> None:
    model, arpa, train = setting["model"], setting["arpa"], setting["train"]
    mix = model.ngram_mix(arpa, "auto", dev=train)
    assert 0 < mix.weight < 1 and mix.chosen_on == train
    best = mixture_perplexity(model, arpa, train, mix.weight)
    for other in (mix.weight - 0.02, mix.weight + 0.02, 0.5):
        if 0 <= other <= 1:
            assert best < mixture_perplexity(model, arpa, train, other)


def test_evaluate_and_score_take_the_flags_and_say_what_was_mixed(setting: dict) -> None:
    model, arpa, valid = setting["model"], setting["arpa"], setting["valid"]
    args = [setting["checkpoint"], valid, "--ngram", str(arpa), "--ngram-weight", "auto",
            "--ngram-dev", setting["train"]]
    evaluated = runner.invoke(app, ["evaluate", *args, "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads(evaluated.stdout)
    chosen = model.ngram_mix(arpa, "auto", dev=setting["train"])
    assert summary["ngram"]["weight"] == chosen.weight
    assert summary["perplexity"] == model.evaluate(valid, ngram=chosen).perplexity
    table = runner.invoke(app, ["evaluate", *args])
    assert f"weight {chosen.weight:.4f}, chosen on {setting['train']}" in table.stdout
    scored = runner.invoke(app, ["score", *args, "--json"])
    assert json.loads(scored.stdout.splitlines()[-1])["summary"]["perplexity"] == \
        summary["perplexity"]
    from_env = runner.invoke(app, ["evaluate", setting["checkpoint"], valid, "--json"],
                             env={"CHARLM_EVALUATE_NGRAM": str(arpa),
                                      "CHARLM_EVALUATE_NGRAM_WEIGHT": "1"})
    assert json.loads(from_env.stdout)["ngram"]["weight"] == 1.0


@pytest.mark.parametrize(("flags", "says"), [
    (["--ngram-weight", "1.5"], "--ngram-weight: 1.5 is outside 0 to 1"),
    (["--ngram-weight", "much"], "--ngram-weight: 'much' is neither a number"),
    (["--ngram-weight", "auto"], "--ngram-weight auto chooses λ on a development text: give "
                                 "--ngram-dev"),
    (["--ngram-dev", "VALID"], "--ngram-dev applies only with --ngram-weight auto"),
])
def test_bad_weights_are_refused_in_one_line(setting: dict, flags: list[str], says: str) -> None:
    flags = [setting["valid"] if f == "VALID" else f for f in flags]
    for command in ("evaluate", "score"):
        result = runner.invoke(app, [command, setting["checkpoint"], setting["valid"], "--ngram",
                                     str(setting["arpa"]), *flags])
        assert says in one_error_line(result, 2)


def test_ngram_settings_without_ngram_are_refused(setting: dict) -> None:
    result = runner.invoke(app, ["evaluate", setting["checkpoint"], setting["valid"],
                                 "--ngram-weight", "0.2"])
    assert "--ngram-weight applies only with --ngram" in one_error_line(result, 2)


def test_a_missing_or_unreadable_ngram_model_is_one_line(setting: dict, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["evaluate", setting["checkpoint"], setting["valid"], "--ngram",
                                  str(tmp_path / "none.arpa")])
    assert "--ngram: file not found" in one_error_line(missing, 2)
    no_dev = runner.invoke(app, ["evaluate", setting["checkpoint"], setting["valid"], "--ngram",
                                 str(setting["arpa"]), "--ngram-weight", "auto", "--ngram-dev",
                                 str(tmp_path / "none.txt")])
    assert "--ngram-dev: file not found" in one_error_line(no_dev, 2)
    not_arpa = runner.invoke(app, ["evaluate", setting["checkpoint"], setting["valid"],
                                   "--ngram", setting["valid"]])
    assert "is not an n-gram model KenLM reads" in one_error_line(not_arpa, 2)


@pytest.mark.extra()
def test_without_kenlm_the_install_hint(setting: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kenlm", None)  # as if it were not installed
    result = runner.invoke(app, ["evaluate", setting["checkpoint"], setting["valid"], "--ngram",
                                 str(setting["arpa"])])
    line = one_error_line(result, 1)
    assert "kenlm is not installed" in line and "charlm-rnn[ngram]" in line


def test_rescore_mixes_each_hypothesis_as_score_does(setting: dict, tmp_path: Path) -> None:
    model, arpa = setting["model"], setting["arpa"]
    hypotheses = {"u1": ["anna walked to the garden", "anna walked the garden", ""],
                  "u2": ["did henry see the zebra", "did henry see the river"]}
    lists = tmp_path / "lists.tsv"
    lists.write_text("".join(f"{u}\t{h}\t-1.5\n" for u, hs in hypotheses.items() for h in hs))
    mix = model.ngram_mix(arpa, 0.4)
    rescored = model.rescore(lists, ngram=mix)
    got = [h.lm_log_prob for u in rescored.utterances for h in u.hypotheses]
    expected = [s.log_prob for hs in hypotheses.values() for s in model.score(hs, ngram=mix)]
    plain = [h.lm_log_prob for u in model.rescore(lists).utterances for h in u.hypotheses]
    # The same tokens read in other batches: float32 sums differ in the last digits.
    assert got == pytest.approx(expected, abs=1e-5) and got != pytest.approx(plain, abs=1e-3)
    assert rescored.ngram == mix
    command = runner.invoke(app, ["rescore", setting["checkpoint"], str(lists), "--ngram",
                                  str(arpa), "--ngram-weight", "0.4", "--output", "scores"])
    assert command.exit_code == 0, command.output
    rows = [line.split("\t") for line in command.stdout.splitlines()[1:]]
    assert [float(r[6]) for r in rows] == pytest.approx(expected, abs=1e-5)
    assert "interpolated with" in command.stderr and "weight 0.4000" in command.stderr


def test_rescore_chooses_lambda_on_transcripts_read_a_line_a_sentence(setting: dict,
                                                                       tmp_path: Path) -> None:
    model, arpa = setting["model"], setting["arpa"]
    lists = tmp_path / "lists.tsv"
    lists.write_text("u1\tanna walked to the garden\t-1\nu1\tanna walked the garden\t-2\n")
    transcripts = tmp_path / "transcripts.txt"
    transcripts.write_text("".join(f"{line}\n" for line in Path(setting["train"]).read_text(
        encoding="utf-8").splitlines()[:80] if line.strip()), encoding="utf-8")
    result = runner.invoke(app, ["rescore", setting["checkpoint"], str(lists), "--ngram",
                                 str(arpa), "--ngram-weight", "auto", "--ngram-dev",
                                 str(transcripts)])
    assert result.exit_code == 0, result.output
    each_alone = model.ngram_mix(arpa, "auto", dev=transcripts, context="sentence",
                                 split="one-per-line")
    as_the_model_reads = model.ngram_mix(arpa, "auto", dev=transcripts)
    assert each_alone.weight != as_the_model_reads.weight
    assert f"weight {each_alone.weight:.4f}, chosen on {transcripts}" in result.stderr


def test_a_mixture_is_checked_before_any_work(setting: dict) -> None:
    model, arpa = setting["model"], setting["arpa"]
    with pytest.raises(charlm.ConfigError, match="is not an n-gram mixture"):
        model.score(["anna walked"], ngram=str(arpa))
    with pytest.raises(charlm.ConfigError, match="outside 0 to 1"):
        charlm.NgramMix(charlm.NgramModel(arpa), 2.0)
