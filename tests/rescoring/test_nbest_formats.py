"""Reading n-best lists: each format's layout, recognised from its first line, its scores turned
into log10 (higher is better) by its own rule, every utterance and hypothesis kept with its id and
in its order, and each malformed or repeated line refused in one line naming the file and line."""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import pytest

from charlm.errors import CharlmError, ConfigError
from charlm.rescoring.formats import NBEST_FORMAT_NAMES
from charlm.rescoring.reading import read_nbest

LN10 = math.log(10)
# SRILM's bytelog: log base 1.0001, divided by 1024 (its Prob.h: BytelogToLogP).
BYTELOG = 1024 / 10000.5 / LN10


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read(*paths: Path, **options: object):
    lists = read_nbest([str(p) for p in paths], **options)  # type: ignore[arg-type]
    return lists, [h for u in lists.utterances for h in u.hypotheses]


def test_kaldi_text_and_cost_archives(tmp_path: Path) -> None:
    text = write(tmp_path / "text", ["utt1-1 anna walked", "utt1-2 anna walked home",
                                     "utt1-3", "utt2-1 ben"])
    am = write(tmp_path / "ac", ["utt1-1 120.5", "utt1-2 118", "utt1-3 200", "utt2-1 3.25"])
    lm = write(tmp_path / "lm", ["utt2-1 7", "utt1-3 1.5", "utt1-2 12", "utt1-1 10"])
    lists, hypotheses = read(text, am_scores=str(am), lm_scores=str(lm))
    assert lists.format == "kaldi"
    assert [(u.id, [h.id for h in u.hypotheses]) for u in lists.utterances] == [
        ("utt1", ["utt1-1", "utt1-2", "utt1-3"]), ("utt2", ["utt2-1"])]
    assert [h.words for h in hypotheses] == [("anna", "walked"), ("anna", "walked", "home"), (),
                                             ("ben",)]
    assert [h.am for h in hypotheses] == pytest.approx([-120.5 / LN10, -118 / LN10,
                                                        -200 / LN10, -3.25 / LN10])
    assert [h.decoder_lm for h in hypotheses] == pytest.approx([-10 / LN10, -12 / LN10,
                                                                -1.5 / LN10, -7 / LN10])
    assert [h.source for h in hypotheses] == [f"{text}:{n}" for n in (1, 2, 3, 4)]
    # Without the archives: the words alone, ranked by the language model.
    _, bare = read(text)
    assert [h.am for h in bare] == [0.0] * 4 and {h.decoder_lm for h in bare} == {None}


def test_srilm_lists_one_utterance_a_file(tmp_path: Path) -> None:
    native = write(tmp_path / "lists" / "sw-001", ["-120.5 -10.25 2 anna walked",
                                                   "-118 -12 0"])
    with gzip.open(tmp_path / "lists" / "sw-002.gz", "wt", encoding="utf-8") as handle:
        handle.write("NBestList1.0\n(-51200) ben was tired\n(-40000) ben was\n")
    write(tmp_path / "lists" / "sw-003", [
        "NBestList2.0",
        "(-1300) anna ( st: 0.00 et: 0.30 g: -100 a: -300 ) ae ( st: 0.00 et: 0.10 g: 0 a: -50 )"
        " walked ( st: 0.31 et: 0.60 g: -200 a: -700 )"])
    lists, hypotheses = read(tmp_path / "lists")
    assert lists.format == "srilm"
    assert lists.files == [str(native), str(tmp_path / "lists" / "sw-002.gz"),
                           str(tmp_path / "lists" / "sw-003")]
    assert [(h.utterance, h.id, h.words) for h in hypotheses] == [
        ("sw-001", "1", ("anna", "walked")), ("sw-001", "2", ()),
        ("sw-002", "1", ("ben", "was", "tired")), ("sw-002", "2", ("ben", "was")),
        # The phone "ae" inside the word "anna" is no word.
        ("sw-003", "1", ("anna", "walked"))]
    assert [h.am for h in hypotheses] == pytest.approx([
        -120.5, -118, -51200 * BYTELOG, -40000 * BYTELOG, (-300 - 700) * BYTELOG])
    assert [h.decoder_lm for h in hypotheses[:2]] == pytest.approx([-10.25, -12])
    assert hypotheses[2].decoder_lm is None and hypotheses[3].decoder_lm is None
    assert hypotheses[4].decoder_lm == pytest.approx((-100 - 200) * BYTELOG)


def test_moses_lists_with_and_without_alignments(tmp_path: Path) -> None:
    path = write(tmp_path / "nbest.moses", [
        "0 ||| we must discuss . ||| d: 0 -5.5 lm: -36.1 w: -4 ||| -9.2298",
        "0 ||| we discuss . ||| d: 0 -2 lm: -31.6 w: -3 ||| -9.26197 ||| 0-0 1-1 2-2",
        "1 |||  ||| d: 0 lm: -3 w: 0 ||| -20",
        "2 ||| it is . ||| d: 0 lm: -9 w: -3 ||| -4.5"])
    lists, hypotheses = read(path)
    assert lists.format == "moses"
    assert [(h.utterance, h.id, h.text) for h in hypotheses] == [
        ("0", "1", "we must discuss ."), ("0", "2", "we discuss ."), ("1", "1", ""),
        ("2", "1", "it is .")]
    assert [h.am for h in hypotheses] == pytest.approx([-9.2298 / LN10, -9.26197 / LN10,
                                                        -20 / LN10, -4.5 / LN10])


def test_tsv_with_none_one_or_two_scores(tmp_path: Path) -> None:
    path = write(tmp_path / "nbest.tsv", ["u1\tanna walked\t-3.5\t-7", "u1\tanna\t-4",
                                          "u2\t\t-1", "u3\tben was tired"])
    lists, hypotheses = read(path)
    assert lists.format == "tsv"
    assert [(h.utterance, h.id, h.words, h.am, h.decoder_lm) for h in hypotheses] == [
        ("u1", "1", ("anna", "walked"), -3.5, -7.0), ("u1", "2", ("anna",), -4.0, None),
        ("u2", "1", (), -1.0, None), ("u3", "1", ("ben", "was", "tired"), 0.0, None)]


def test_each_format_is_recognised_and_named_alike(tmp_path: Path) -> None:
    samples = {
        "kaldi": ["utt-1 anna walked"],
        "srilm": ["-1 -2 2 anna walked"],
        "moses": ["0 ||| anna walked ||| lm: -2 ||| -1"],
        "tsv": ["utt\tanna walked\t-1"],
    }
    assert set(samples) == set(NBEST_FORMAT_NAMES)
    for name, lines in samples.items():
        path = write(tmp_path / name, lines)
        recognised, hypotheses = read(path)
        named, same = read(path, nbest_format=name)
        assert recognised.format == named.format == name
        assert hypotheses == same and hypotheses[0].words == ("anna", "walked")


# Each refusal: the lists (file name: lines), the options, and the message, FILE standing for
# the list's path.
REFUSED = {
    "kaldi key without a rank": ({"text": ["utt1-1 anna", "utt1 walked"]}, {},
                                 "FILE:2: 'utt1' is no key of the form utterance-N"),
    "kaldi key twice": ({"text": ["utt1-1 anna", "utt1-2 ben", "utt1-1 clara"]}, {},
                        "FILE:3: hypothesis utt1-1 is given twice (first at FILE:1)"),
    "srilm score not a number": ({"sw1": ["-1 -2 1 anna", "-1 x 1 ben"]}, {},
                                 "FILE:2: the language-model score 'x' is not a number"),
    "srilm no word count": ({"sw1": ["-1 -2 1 anna", "-1 -2 ben"]}, {},
                            "FILE:2: no word count in the third field"),
    "nbest2 a word short of its fields": (
        {"sw1": ["NBestList2.0", "(-1) anna ( st: 0 et: 1 g: -1 a: -2 )",
                 "(-1) anna ( st: 0 et: 1 g: -1 )"]}, {},
        "FILE:3: 9 fields after the score, not 11 for each word"),
    "nbest1 score without parentheses": ({"sw1": ["NBestList1.0", "-12 anna"]}, {},
                                         "FILE:2: '-12' is no score in parentheses"),
    "srilm file without hypotheses": ({"sw1": ["NBestList1.0"]}, {},
                                      "FILE holds no hypothesis"),
    "moses three fields": ({"nb": ["0 ||| anna ||| lm: -1 ||| -2", "0 ||| ben ||| -2"]}, {},
                           "FILE:2: 3 fields between |||, not 4 or 5"),
    "moses score not a number": ({"nb": ["0 ||| anna ||| lm: -1 ||| high"]}, {},
                                 "FILE:1: the score 'high' is not a number"),
    "moses infinite score": ({"nb": ["0 ||| anna ||| lm: -1 ||| -inf"]}, {},
                             "FILE:1: the score '-inf' is not a finite number"),
    "tsv line without a tab": ({"nb": ["u1\tanna\t-1", "u1 ben -2"]}, {},
                               "FILE:2: 1 tab-separated field(s), not 2 to 4"),
    "tsv utterance again": ({"nb": ["u1\tanna", "u2\tben", "u1\tclara"]}, {},
                            "FILE:3: utterance u1 appears again (its list begins at FILE:1)"),
    "no layout": ({"nb": ["", "anna walked"]}, {},
                  "FILE:2: cannot tell the format of the n-best lists, the line is of no "
                  "layout charlm reads; name it with --nbest-format (kaldi, srilm, moses, tsv)"),
    "empty file": ({"nb": ["  "]}, {}, "FILE holds no hypothesis"),
    "wrong format named": ({"nb": ["utt1-1 anna walked"]}, {"nbest_format": "moses"},
                           "FILE:1: 1 fields between |||, not 4 or 5"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_malformed_and_repeated_lines_are_refused_naming_file_and_line(
    case: str, tmp_path: Path
) -> None:
    files, options, message = REFUSED[case]
    paths = [write(tmp_path / name, lines) for name, lines in files.items()]
    with pytest.raises(CharlmError) as refused:
        read(*paths, **options)
    assert str(refused.value).startswith(message.replace("FILE", str(paths[0]))), refused.value
    assert "\n" not in str(refused.value)


def test_an_utterance_given_in_two_files_is_refused(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "sw1", ["-1 -2 1 anna"])
    second = write(tmp_path / "b" / "sw1", ["-3 -4 1 ben"])
    with pytest.raises(CharlmError, match=re.escape(
            f"{second}:1: utterance sw1 appears again (its list begins at {first}:1)")):
        read(tmp_path / "a", tmp_path / "b")


def test_cost_archives_must_match_the_lists(tmp_path: Path) -> None:
    text = write(tmp_path / "text", ["utt1-1 anna", "utt1-2 ben"])
    short = write(tmp_path / "short", ["utt1-1 10"])
    with pytest.raises(CharlmError, match=re.escape(f"{short} has no cost for utt1-2 ({text}:2)")):
        read(text, am_scores=str(short))
    extra = write(tmp_path / "extra", ["utt1-1 10", "utt1-2 11", "utt9-1 12"])
    with pytest.raises(CharlmError, match=re.escape(f"{extra}:3: utt9-1 is no hypothesis of the")):
        read(text, lm_scores=str(extra))
    twice = write(tmp_path / "twice", ["utt1-1 10", "utt1-2 11", "utt1-1 12"])
    with pytest.raises(CharlmError,
                       match=re.escape(f"{twice}:3: utt1-1 has a cost already (line 1)")):
        read(text, am_scores=str(twice))
    with pytest.raises(CharlmError, match="^--am-scores file not found: "):
        read(text, am_scores=str(tmp_path / "missing"))
    tsv = write(tmp_path / "nb.tsv", ["u1\tanna\t-1"])
    with pytest.raises(ConfigError, match="and these lists are read as tsv: leave them out$"):
        read(tsv, am_scores=str(short))


def test_missing_lists_and_empty_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CharlmError, match="^n-best list not found: .*missing; check the path$"):
        read(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CharlmError, match="^no n-best lists in directory .*empty"):
        read(tmp_path / "empty")


def test_the_samples_of_the_docs_are_read_in_their_format(tmp_path: Path) -> None:
    """Each format's section of docs/rescoring.md shows lists charlm reads as that format."""
    page = (Path(__file__).parents[2] / "docs" / "rescoring.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", page.split("\n## The formats\n")[1].split("\n## ")[0],
                        flags=re.M)[1:]
    shown = {}
    for section in sections:
        name = section.split("\n", 1)[0].strip().lower()
        samples = re.findall(r"^```\n(.*?)^```", section, flags=re.S | re.M)
        for number, sample in enumerate(samples):
            path = write(tmp_path / f"{name}-{number}", sample.splitlines())
            if name == "kaldi" and number == 1:  # the cost archive of the text before it
                _, costed = read(tmp_path / "kaldi-0", am_scores=str(path))
                assert all(h.am < 0 for h in costed)
                continue
            lists, hypotheses = read(path)
            assert lists.format == name and hypotheses, sample
            shown[name] = shown.get(name, 0) + 1
    assert set(shown) == set(NBEST_FORMAT_NAMES)
    assert shown["srilm"] == 3  # its own, NBestList1.0 and NBestList2.0
