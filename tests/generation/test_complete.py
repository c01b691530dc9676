"""`charlm complete`: the likeliest next words and a continuation for each line, piped in."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.training import charlm_process, child_environment
from typer.testing import CliRunner

from charlm.cli import app
from charlm.data.vocab import SPECIAL_TOKENS

runner = CliRunner()


def invoke(args: list[str], stdin: str | None = None) -> Any:
    return runner.invoke(app, ["complete", *args], input=stdin)


def answers(result: Any) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_next_words_are_the_models_probabilities(trained_model: dict, tmp_path: Path) -> None:
    model = str(trained_model["checkpoint"])
    answered = answers(invoke([model, "--json", "--top-k", "5", "--seed", "1"],
                              stdin="Anna walked to\n\n"))
    assert [a["prompt"] for a in answered] == ["Anna walked to", ""]
    for answer in answered:
        probabilities = [entry["probability"] for entry in answer["next"]]
        assert len(probabilities) == 5
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-6
    # The probability of a shown word is the one evaluate measures for that word in that place.
    first = answered[0]
    word, probability = next((e["word"], e["probability"]) for e in first["next"]
                             if e["word"].isalpha() and e["word"] not in SPECIAL_TOKENS)
    text = tmp_path / "sentence.txt"
    text.write_text(f"Anna walked to {word}\n", encoding="utf-8")
    per_token = tmp_path / "tokens.tsv"
    evaluated = runner.invoke(app, ["evaluate", model, str(text), "--per-token", str(per_token)])
    assert evaluated.exit_code == 0, evaluated.output
    with open(per_token, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[3]["token"] == word
    assert float(rows[3]["surprisal_bits"]) == pytest.approx(-math.log2(probability), abs=1e-5)


def test_continuations_start_with_the_line_and_repeat_with_a_seed(trained_model: dict) -> None:
    model = str(trained_model["checkpoint"])
    lines = "Ben was\nClara looked at the\n"
    args = [model, "--json", "--seed", "4", "--max-words", "40", "--temperature", "0.7"]
    first, again = answers(invoke(args, stdin=lines)), answers(invoke(args, stdin=lines))
    assert first == again
    other = answers(invoke([*args[:-1], "1.5"], stdin=lines))
    assert [a["continuation"] for a in other] != [a["continuation"] for a in first]
    for answer in first:
        if answer["continuation"] is not None:
            assert answer["continuation"].lower().startswith(answer["prompt"].lower())


def test_text_output_and_unknown_words(trained_model: dict) -> None:
    result = invoke([str(trained_model["checkpoint"]), "--top-k", "3"],
                    stdin="Anna was\nxylophone zebu\n")
    assert result.exit_code == 0, result.output
    blocks = result.stdout.split("> ")[1:]
    assert [block.splitlines()[0] for block in blocks] == ["Anna was", "xylophone zebu"]
    for block in blocks:
        lines = block.splitlines()
        assert len(lines) == 5 and lines[-1].startswith("  continuation: ")
        assert all(0 < float(line.split()[0]) <= 1 for line in lines[1:4])
    assert "none of the words of 'xylophone zebu' is in the vocabulary" in result.stderr


def test_bad_input_is_one_line(trained_model: dict, tmp_path: Path) -> None:
    missing = invoke([str(tmp_path / "none.pt")], stdin="Anna\n")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"Error: checkpoint not found: {tmp_path / 'none.pt'}"
    assert invoke([], stdin="").exit_code == 2
    zero = invoke([str(trained_model["checkpoint"]), "--top-k", "0"], stdin="Anna\n")
    assert zero.exit_code == 2
    assert zero.stderr.strip() == "Error: --top-k: 0 is too small; it must be at least 1"
    # No input at all is the end of input: nothing to answer, a normal exit.
    assert answers(invoke([str(trained_model["checkpoint"]), "--json"], stdin="")) == []


def test_ctrl_c_ends_it_cleanly(trained_model: dict) -> None:
    with charlm_process(["complete", str(trained_model["checkpoint"]), "--json"],
                        stdin=True) as child:
        child.write_line("Anna was")
        child.wait_until(lambda: bool(child.out_lines), "the answer to the first line")
        assert json.loads(child.out_lines[0])["prompt"] == "Anna was"
        # Answered, it sleeps only to read the next line.
        child.wait_until(child.waiting, "waiting for the next line")
        child.send_signal(signal.SIGINT)
        assert child.finish() == 0, child.stderr
    assert "Traceback" not in child.stderr and "KeyboardInterrupt" not in child.stderr


def test_bytes_that_are_not_utf8_are_replaced_as_score_replaces_them(trained_model: dict
                                                                     ) -> None:
    # CliRunner decodes standard input strictly as UTF-8, as a UTF-8 locale does.
    result = runner.invoke(app, ["complete", str(trained_model["checkpoint"]), "--json"],
                           input="Anna was at the caf\xe9\n".encode("latin-1"))
    assert [answer["prompt"] for answer in answers(result)] == ["Anna was at the caf\ufffd"]


def test_a_terminal_typing_bytes_that_are_not_utf8_gets_an_answer(trained_model: dict) -> None:
    terminal, typed = os.openpty()
    with subprocess.Popen([sys.executable, "-m", "charlm", "complete",
                           str(trained_model["checkpoint"]), "--json"],
                          stdin=typed, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=child_environment({"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": ""}),
                          ) as child:
        os.close(typed)
        os.write(terminal, "Anna was at the caf\xe9\n".encode("latin-1") + b"\x04")
        out, err = child.communicate(timeout=120)
    os.close(terminal)
    assert child.returncode == 0, err
    assert b"Traceback" not in err
    prompts = [json.loads(line[line.index("{"):])["prompt"] for line in out.decode().splitlines()
               if "{" in line]
    assert prompts == ["Anna was at the caf\ufffd"]
