"""`charlm rescore` and `Model.rescore`: every format's lists come back with their ids and in their
order, each hypothesis scored as `score` scores the same line, combined as the docs say, the
1-best chosen by the combined score, and --context previous read as document context reads the
1-bests before it; bad lists get one line."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.training import one_error_line
from typer.testing import CliRunner

import charlm
from charlm.cli import app
from charlm.rescoring.nbest import Hypothesis
from charlm.rescoring.reading import Utterance
from charlm.rescoring.rescore import utterance_runs

runner = CliRunner()
LN10 = math.log(10)
BYTELOG = 1024 / 10000.5 / LN10
# Utterances and their hypotheses with a decoder's score each, as log10 (higher is better): an
# empty hypothesis, words outside the vocabulary, an utterance of one hypothesis.
UTTERANCES: list[tuple[str, list[tuple[str, float]]]] = [
    ("u1", [("anna walked to the garden", -10.0), ("anna walked to a zebra garden", -9.5),
            ("ben was tired", -12.0)]),
    ("u2", [("", -3.0), ("clara was quiet in the xylophone", -4.25)]),
    ("u3", [("henry looked at the river", -7.0)]),
]
WEIGHTS = ["--am-weight", "0.5", "--lm-weight", "2", "--word-penalty", "-0.25",
           "--unk-penalty", "-1.5"]


def hypotheses() -> list[tuple[str, int, str, float]]:
    """(utterance, rank from 1, text, decoder's log10 score) in order."""
    return [(utterance, rank, text, am) for utterance, listed in UTTERANCES
            for rank, (text, am) in enumerate(listed, start=1)]


def kaldi(root: Path) -> tuple[list[str], list[str]]:
    """The text archive, and the acoustic costs (positive natural-log) beside it."""
    text, costs = root / "text", root / "ac"
    text.write_text("".join(f"{u}-{r} {t}".rstrip() + "\n" for u, r, t, _ in hypotheses()),
                    encoding="utf-8")
    costs.write_text("".join(f"{u}-{r} {-am * LN10!r}\n" for u, r, _, am in hypotheses()),
                     encoding="utf-8")
    return [str(text)], ["--am-scores", str(costs)]


def srilm(root: Path) -> tuple[list[str], list[str]]:
    """A directory of lists, one an utterance: SRILM's own and NBestList1.0 (bytelogs)."""
    lists = root / "lists"
    lists.mkdir()
    for utterance, listed in UTTERANCES:
        if utterance == "u2":
            lines = ["NBestList1.0"] + [f"({am / BYTELOG!r}) {t}" for t, am in listed]
        else:
            lines = [f"{am!r} -5 {len(t.split())} {t}" for t, am in listed]
        (lists / utterance).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [str(lists)], []


def moses(root: Path) -> tuple[list[str], list[str]]:
    """The scores natural-log, an alignment field on some lines."""
    path = root / "nbest.moses"
    path.write_text("".join(f"{u} ||| {t} ||| lm: -1 w: -2 ||| {am * LN10!r}"
                            + (" ||| 0-0" if r == 2 else "") + "\n"
                            for u, r, t, am in hypotheses()), encoding="utf-8")
    return [str(path)], []


def tsv(root: Path) -> tuple[list[str], list[str]]:
    path = root / "nbest.tsv"
    path.write_text("".join(f"{u}\t{t}\t{am!r}\n" for u, _, t, am in hypotheses()),
                    encoding="utf-8")
    return [str(path)], []


WRITERS: dict[str, Callable[[Path], tuple[list[str], list[str]]]] = {
    "kaldi": kaldi, "srilm": srilm, "moses": moses, "tsv": tsv}


def rows(result: Any) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(result.stdout.splitlines(), delimiter="\t",
                               quoting=csv.QUOTE_NONE))


def expected_ids(format: str) -> list[tuple[str, str, str]]:
    return [(u, f"{u}-{r}" if format == "kaldi" else str(r), t) for u, r, t, _ in hypotheses()]


def by_hand(model: charlm.Model, weights: dict[str, float], context_texts: list[str] = ()
            ) -> list[dict[str, float]]:
    """Each hypothesis's figures computed here from `score`'s log-probabilities: the language
    model's log10 with the unknown-word penalty, and the combined score."""
    expected = []
    for _, _, text, am in hypotheses():
        scored = model.score([text])[0]
        lm = scored.log10_prob + weights["unk_penalty"] * scored.oov
        expected.append({"lm": lm, "oov": scored.oov, "words": len(text.split()),
                         "score": weights["am_weight"] * am + weights["lm_weight"] * lm
                         + weights["word_penalty"] * len(text.split())})
    return expected


def best_by_hand(expected: list[dict[str, float]]) -> list[int]:
    """Which hypotheses are 1-bests: each utterance's highest combined score."""
    best, first = [], 0
    for _, listed in UTTERANCES:
        scores = [e["score"] for e in expected[first : first + len(listed)]]
        best += [int(i == scores.index(max(scores))) for i in range(len(listed))]
        first += len(listed)
    return best


@pytest.mark.parametrize("format", list(WRITERS))
def test_each_format_keeps_ids_and_order_and_combines_as_computed_by_hand(
    format: str, trained_model: dict, tmp_path: Path
) -> None:
    model_path = str(trained_model["checkpoint"])
    files, flags = WRITERS[format](tmp_path)
    found = rows(runner.invoke(app, ["rescore", model_path, *files, *flags, *WEIGHTS]))
    named = rows(runner.invoke(app, ["rescore", model_path, *files, *flags, *WEIGHTS,
                                     "--nbest-format", format]))
    assert found == named
    assert [(r["utterance"], r["hypothesis"], r["text"]) for r in found] == expected_ids(format)
    model = charlm.load(model_path)
    weights = {"am_weight": 0.5, "lm_weight": 2.0, "word_penalty": -0.25, "unk_penalty": -1.5}
    expected = by_hand(model, weights)
    assert [float(r["am"]) for r in found] == pytest.approx([am for *_, am in hypotheses()],
                                                            abs=2e-6)
    for row, figures in zip(found, expected, strict=True):
        assert int(row["words"]) == figures["words"] and int(row["oov"]) == figures["oov"]
        assert float(row["lm_log10_prob"]) == pytest.approx(figures["lm"], abs=2e-6)
        assert float(row["lm_log_prob"]) == pytest.approx(figures["lm"] * LN10, abs=2e-6)
        assert float(row["score"]) == pytest.approx(figures["score"], abs=1e-5)
    assert [int(r["best"]) for r in found] == best_by_hand(expected)
    assert sum(figures["oov"] for figures in expected) >= 2  # zebra, xylophone


def test_python_gives_what_the_command_prints(trained_model: dict, tmp_path: Path) -> None:
    model_path = str(trained_model["checkpoint"])
    files, flags = kaldi(tmp_path)
    printed = rows(runner.invoke(app, ["rescore", model_path, *files, *flags, *WEIGHTS]))
    rescored = charlm.load(model_path).rescore(
        files[0], am_scores=flags[1], am_weight=0.5, lm_weight=2, word_penalty=-0.25,
        unk_penalty=-1.5)
    assert rescored.format == "kaldi" and rescored.context == "utterance"
    assert [u.id for u in rescored.utterances] == ["u1", "u2", "u3"]
    flat = [(u, h) for u in rescored.utterances for h in u.hypotheses]
    assert len(flat) == len(printed) == rescored.hypothesis_count
    for (utterance, scored), row in zip(flat, printed):
        assert scored.hypothesis.id == row["hypothesis"]
        assert f"{scored.score:.6f}" == row["score"]
        assert int(row["best"]) == (scored is utterance.best)
    # The empty hypothesis scores its end of sentence alone; the lone one is kept, and best.
    empty = rescored.utterances[1].hypotheses[0]
    assert empty.hypothesis.words == () and empty.word_count == 0
    end_alone = charlm.load(model_path).score([""])[0]
    assert end_alone.tokens == 1
    assert empty.lm_log10_prob == pytest.approx(end_alone.log10_prob, abs=1e-6)
    assert rescored.utterances[2].best.hypothesis.id == "u3-1"


def test_best_output_is_kaldi_text_and_scores_has_no_best_column(trained_model: dict,
                                                                  tmp_path: Path) -> None:
    model_path = str(trained_model["checkpoint"])
    files, flags = tsv(tmp_path)
    both = rows(runner.invoke(app, ["rescore", model_path, *files]))
    best = runner.invoke(app, ["rescore", model_path, *files, "--output", "best"])
    assert best.exit_code == 0, best.output
    chosen = [f"{r['utterance']} {r['text']}".rstrip() for r in both if r["best"] == "1"]
    assert best.stdout.splitlines() == chosen and len(chosen) == len(UTTERANCES)
    scores = rows(runner.invoke(app, ["rescore", model_path, *files, "--output", "scores"]))
    assert scores == [{k: v for k, v in r.items() if k != "best"} for r in both]
    unknown = sum(int(r["oov"]) for r in both)
    assert best.stderr.splitlines() == [f"rescored 6 hypotheses of 3 utterances (tsv lists, "
                                        f"context utterance); {unknown} unknown words"]


def test_previous_context_reads_each_hypothesis_after_the_1_bests_before(
    trained_model: dict, tmp_path: Path
) -> None:
    """The decoder's scores decide the 1-bests here (a margin no language-model score closes),
    so the text before each utterance is known: the first hypothesis of u1, the second of
    u2."""
    path = tmp_path / "nbest.tsv"
    decided = {("u1", 1): 0.0, ("u2", 2): 0.0}
    path.write_text("".join(f"{u}\t{t}\t{decided.get((u, r), -1000.0)!r}\n"
                            for u, r, t, _ in hypotheses()), encoding="utf-8")
    model_path = str(trained_model["checkpoint"])
    alone = rows(runner.invoke(app, ["rescore", model_path, str(path)]))
    previous = rows(runner.invoke(app, ["rescore", model_path, str(path), "--context",
                                        "previous"]))
    assert [r["best"] for r in previous] == [r["best"] for r in alone] == [
        "1", "0", "0", "0", "1", "1"]
    model = charlm.load(model_path)
    before = {"u1": [], "u2": [UTTERANCES[0][1][0][0]],
              "u3": [UTTERANCES[0][1][0][0], UTTERANCES[1][1][1][0]]}
    for row, (utterance, _, text, _) in zip(previous, hypotheses(), strict=True):
        in_document = model.score([*before[utterance], text], context="document")[-1]
        assert float(row["lm_log10_prob"]) == pytest.approx(in_document.log10_prob, abs=1e-4)
    differences = [abs(float(p["lm_log10_prob"]) - float(a["lm_log10_prob"]))
                   for p, a in zip(previous, alone)]
    assert max(differences[:3]) < 1e-5  # u1 has nothing before it
    assert min(differences[3:]) > 1e-3


def test_the_1_best_before_is_the_one_the_combined_score_chose(trained_model: dict,
                                                               tmp_path: Path) -> None:
    """Scores equal but for the language model: the text read before u2 is u1's 1-best by the
    model, whichever that is."""
    path = tmp_path / "nbest.tsv"
    path.write_text("".join(f"{u}\t{t}\n" for u, _, t, _ in hypotheses()), encoding="utf-8")
    model_path = str(trained_model["checkpoint"])
    rescored = charlm.load(model_path).rescore(path, context="previous")
    first_best = rescored.utterances[0].best.hypothesis.text
    scores = [charlm.load(model_path).score([t])[0].log10_prob for t, _ in UTTERANCES[0][1]]
    assert first_best == UTTERANCES[0][1][scores.index(max(scores))][0]
    model = charlm.load(model_path)
    for scored in rescored.utterances[1].hypotheses:
        in_document = model.score([first_best, scored.hypothesis.text], context="document")[-1]
        assert scored.lm_log10_prob == pytest.approx(in_document.log10_prob, abs=1e-4)


def test_bad_lists_and_settings_get_one_line(trained_model: dict, tmp_path: Path) -> None:
    model_path = str(trained_model["checkpoint"])
    duplicate = tmp_path / "nbest.txt"
    duplicate.write_text("u-1 anna walked\nu-2 ben\nu-1 clara\n", encoding="utf-8")
    line = one_error_line(runner.invoke(app, ["rescore", model_path, str(duplicate)]), code=1)
    assert line == (f"Error: {duplicate}:3: hypothesis u-1 is given twice (first at "
                    f"{duplicate}:1); give each hypothesis once")
    with pytest.raises(charlm.CharlmError) as refused:
        charlm.load(model_path).rescore(duplicate)
    assert f"Error: {refused.value}" == line
    malformed = tmp_path / "nbest.moses"
    malformed.write_text("0 ||| anna ||| lm: -1 ||| -2\n0 ||| ben\n", encoding="utf-8")
    assert one_error_line(runner.invoke(app, ["rescore", model_path, str(malformed)]),
                          code=1).startswith(f"Error: {malformed}:2: 2 fields between |||")
    foreign = tmp_path / "foreign.tsv"
    foreign.write_text("u\tzebu quux\n", encoding="utf-8")
    assert "none of the 2 words" in one_error_line(
        runner.invoke(app, ["rescore", model_path, str(foreign)]), code=1)
    refusals = {
        "--context": (["--context", "document"], "--context: unknown value 'document'"),
        "--nbest-format": (["--nbest-format", "htk"], "--nbest-format: unknown value 'htk'"),
        "--am-scores": (["--am-scores", str(duplicate)], "--am-scores and --lm-scores"),
        "--am-weight": (["--am-weight", "nan"], "--am-weight: nan is not a finite number"),
    }
    for flags, message in refusals.values():
        assert message in one_error_line(runner.invoke(
            app, ["rescore", model_path, str(foreign), *flags]), code=2)
    assert "no n-best list given" in one_error_line(
        runner.invoke(app, ["rescore", model_path]), code=2)
    with pytest.raises(charlm.ConfigError, match="^context=: unknown value 'document'"):
        charlm.load(model_path).rescore(foreign, context="document")


def test_an_utterances_hypotheses_are_never_parted_between_batches() -> None:
    """Whole utterances in order, up to the batch size, and an utterance of more alone."""
    sizes = [3, 2, 5, 1, 1, 4]
    utterances = [Utterance(f"u{i}", tuple(Hypothesis(f"u{i}", str(r), ("w",), 0.0, None, "f", r)
                                           for r in range(size)))
                  for i, size in enumerate(sizes)]
    runs = list(utterance_runs(utterances, 4))
    bounds = [0, *itertools.accumulate(sizes)]
    assert [first for first, _ in runs] == [0, 3, 5, 10, 12]
    assert runs[-1][1] == bounds[-1]
    for first, end in runs:
        assert first in bounds and end in bounds  # no utterance parted
        assert end - first <= 4 or bounds.index(end) - bounds.index(first) == 1
    # Each run is as long as the batch size allows: the next utterance would not fit.
    for first, end in runs[:-1]:
        assert bounds[bounds.index(end) + 1] - first > 4
