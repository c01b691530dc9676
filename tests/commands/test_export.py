"""`charlm export`: an ONNX file and a JSON file that give the checkpoint's next-word
probabilities without charlm."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.training import ROOT
from nltk.tokenize import NLTKWordTokenizer
from typer.testing import CliRunner

from charlm.checkpoint.schema import Checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.cli import app
from charlm.data.tokenizer import TokenizerSettings
from charlm.data.vocab import SPECIAL_TOKENS
from charlm.model.network import ModelConfig, RNNLanguageModel

# Every test here needs the export extra, but the one that checks what charlm says without it.
pytestmark = pytest.mark.extra("export")
runner = CliRunner()
SENTENCES = ["Anna walked to the old house in the morning.", "Was Ben quiet?",
             "Mr. Clara painted the river, and the zebra was happy."]


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, ["export", *args])


@pytest.fixture(scope="module")
def exported(trained_model: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    result = invoke([str(trained_model["checkpoint"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))
    return {"onnx": out, "meta": meta, "stdout": result.stdout}


def onnx_log_probs(onnx: Path, meta: dict, sentences: list[list[int]]) -> list[np.ndarray]:
    """Run the export as its users do, one word per call for all sentences at once, carrying
    the state; each sentence's log-probabilities after SENTENCE_START and each of its words."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    special, config = meta["special_tokens"], meta["model"]
    shape = (config["layers"], len(sentences), config["hidden_dim"])
    state = [np.zeros(shape, dtype=np.float32) for _ in meta["state"]]
    current = np.full(len(sentences), special["sentence_start"], dtype=np.int64)
    steps = []
    for t in range(max(map(len, sentences)) + 1):
        log_probs, *state = session.run(None, {"word_ids": current,
                                               **dict(zip(meta["state"], state))})
        steps.append(log_probs)
        current = np.array([s[t] if t < len(s) else special["sentence_end"] for s in sentences])
    return [np.stack([steps[t][i] for t in range(len(s) + 1)]) for i, s in enumerate(sentences)]


def checkpoint_log_probs(checkpoint: Path, sentences: list[list[int]]) -> list[np.ndarray]:
    model = load_trained(checkpoint).model
    with torch.no_grad():
        return [torch.log_softmax(model(torch.tensor([[1, *s]]))[0][0], dim=-1).numpy()
                for s in sentences]


def encode(meta: dict, text: str) -> list[int]:
    index = {word: i for i, word in enumerate(meta["vocabulary"])}
    words = NLTKWordTokenizer().tokenize(text.lower())
    return [index.get(word, meta["special_tokens"]["unknown"]) for word in words]


def assert_agree(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.exp(a), np.exp(b), atol=1e-6)
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_export_gives_the_checkpoints_next_word_probabilities(trained_model: dict,
                                                              exported: dict) -> None:
    meta = exported["meta"]
    sentences = [encode(meta, text) for text in SENTENCES]
    assert len({len(s) for s in sentences}) == 3  # different lengths, in one batch
    expected = checkpoint_log_probs(trained_model["checkpoint"], sentences)
    assert_agree(onnx_log_probs(exported["onnx"], meta, sentences), expected)
    # A batch of one works too: the batch size is free.
    assert_agree(onnx_log_probs(exported["onnx"], meta, sentences[1:2]), expected[1:2])
    assert "onnxruntime gives the checkpoint's next-word log-probabilities" in exported["stdout"]


def test_json_holds_the_vocabulary_and_every_tokenizer_setting(trained_model: dict,
                                                               exported: dict) -> None:
    meta, checkpoint = exported["meta"], torch.load(trained_model["checkpoint"],
                                                    weights_only=True)
    assert meta["vocabulary"] == checkpoint["vocabulary"]
    # Beside it, each word as the corpus writes it: "Anna" for the word "anna".
    written = dict(zip(meta["vocabulary"], meta["written_forms"], strict=True))
    assert list(written.values()) == checkpoint["written_forms"]
    assert (written["anna"], written["the"]) == ("Anna", "the")
    assert [meta["vocabulary"][meta["special_tokens"][k]]
            for k in ("unknown", "sentence_start", "sentence_end")] == list(SPECIAL_TOKENS)
    assert meta["model"] == checkpoint["model_config"] and meta["state"] == ["h"]
    tokenizer, stored = meta["tokenizer"], checkpoint["tokenizer"]
    for key in ("lowercase", "drop_urls", "min_chars", "max_words", "words"):
        assert tokenizer[key] == stored[key]
    assert tokenizer["sentence_splitter"]["parameters"] == stored["punkt"]
    assert re.compile(tokenizer["url_pattern"]).search("see http://example.com")


def test_documented_program_scores_without_charlm(trained_model: dict, exported: dict,
                                                  tmp_path: Path) -> None:
    page = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    section = page.split("\n## export\n")[1]
    program = section.split("```python\n")[1].split("```")[0]
    imported = re.findall(r"^(?:import|from) (\w+)", program, re.MULTILINE)
    assert not {"charlm", "torch"} & set(imported), imported
    script = tmp_path / "use_export.py"
    script.write_text(program, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(exported["onnx"]), SENTENCES[0]],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = float(done.stdout.split("log-probability ")[1].split()[0])
    scored = runner.invoke(app, ["score", str(trained_model["checkpoint"]), "--one-per-line",
                                 "--json"], input=SENTENCES[0] + "\n")
    expected = json.loads(scored.stdout.splitlines()[0])["log_prob"]
    assert printed == pytest.approx(expected, abs=1e-3)
    assert "continuation:" in done.stdout
    # The session's model reads running text: the program goes on to write a passage.
    assert exported["meta"]["context"] == "document"
    assert len(done.stdout.split("passage: ")[1].split(" / ")) == 3


def write_punkt_tab(root: Path) -> Path:
    """A stand-in for NLTK's installed punkt_tab, with parameters of its own."""
    english = root / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True)
    (english / "abbrev_types.txt").write_text("mr\nxyzzy\n", encoding="utf-8")
    (english / "collocations.tab").write_text("##number##\tclara\n", encoding="utf-8")
    (english / "sent_starters.txt").write_text("however\n", encoding="utf-8")
    (english / "ortho_context.tab").write_text("anna\t36\nthe\t2\n", encoding="utf-8")
    return root


def test_punkt_tab_parameters_are_written_out(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint that used the installed punkt_tab stores only its name; the export holds
    the parameters themselves, so a program without that NLTK data splits the same way."""
    import nltk.data

    monkeypatch.setattr(nltk.data, "path", [str(write_punkt_tab(tmp_path / "nltk_data"))])
    words = [*SPECIAL_TOKENS, "anna", "the", "."]
    model = RNNLanguageModel(ModelConfig(vocab_size=len(words), embedding_dim=4, hidden_dim=6,
                                         cell="lstm"))
    checkpoint = tmp_path / "tab.pt"
    Checkpoint(model.config.to_dict(), model.state_dict(), words,
               TokenizerSettings().to_dict()).save(checkpoint)
    result = invoke([str(checkpoint)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "tab.onnx.json").read_text(encoding="utf-8"))
    splitter = meta["tokenizer"]["sentence_splitter"]
    assert splitter["source"] == "punkt_tab/english"
    assert splitter["parameters"] == {
        "abbrev_types": ["mr", "xyzzy"], "collocations": [["##number##", "clara"]],
        "sent_starters": ["however"], "ortho_context": [["anna", 36], ["the", 2]]}
    assert meta["state"] == ["h", "c"]


CELLS = [("gru", "sigmoid"), ("lstm", "sigmoid"), ("rnn", "sigmoid"),
         ("peephole-lstm", "sigmoid"), ("cifg-lstm", "sigmoid"), ("gru", "hard-sigmoid"),
         ("lstm", "hard-sigmoid")]


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "gates"), CELLS)
def test_every_cell_exports(cell: str, gates: str, tmp_path: Path) -> None:
    assert_exports_agree(ModelConfig(vocab_size=30, embedding_dim=6, hidden_dim=6, layers=2,
                                     cell=cell, gate_activation=gates, tie_weights=True),
                         tmp_path)


@pytest.mark.slow
def test_a_smaller_last_layer_exports_and_its_regularisers_export_nothing(tmp_path: Path) -> None:
    # The last layer's state fills the first columns of its slice of the state (layered.py).
    assert_exports_agree(ModelConfig(vocab_size=30, embedding_dim=6, hidden_dim=8, layers=2,
                                     cell="lstm", last_hidden_dim=6, tie_weights=True,
                                     dropout_input=0.4, dropout_hidden=0.3, dropout_output=0.4,
                                     dropout_embedding=0.1, weight_drop=0.5, ar=2.0, tar=1.0),
                         tmp_path)


def test_adaptive_softmax_exports(tmp_path: Path) -> None:
    assert_exports_agree(ModelConfig(vocab_size=30, embedding_dim=6, hidden_dim=8,
                                     softmax="adaptive", cutoffs=(10, 20)), tmp_path)


def assert_exports_agree(config: ModelConfig, tmp_path: Path) -> None:
    """A model of this shape with random weights exports to what the checkpoint computes."""
    torch.manual_seed(3)
    model = RNNLanguageModel(config)
    checkpoint = tmp_path / "model.pt"
    Checkpoint(config.to_dict(), model.state_dict(), [*SPECIAL_TOKENS, *map(str, range(27))],
               TokenizerSettings(splitter="punkt/trained-on-corpus",
                                 punkt={"abbrev_types": [], "collocations": [],
                                        "sent_starters": [], "ortho_context": []}).to_dict()
               ).save(checkpoint)
    result = invoke([str(checkpoint)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "model.onnx.json").read_text(encoding="utf-8"))
    assert meta["context"] == "sentence"  # a checkpoint that names no context reads sentences
    sentences = [[5, 9, 3, 28, 4], [7], [12, 12, 29]]
    assert_agree(onnx_log_probs(tmp_path / "model.onnx", meta, sentences),
                 checkpoint_log_probs(checkpoint, sentences))


def test_bad_input_is_one_line_and_overwrites_nothing(exported: dict, trained_model: dict,
                                                     tmp_path: Path) -> None:
    missing = invoke([str(tmp_path / "none.pt")])
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"Error: checkpoint not found: {tmp_path / 'none.pt'}"
    no_model = invoke([])
    assert no_model.exit_code == 2 and "no checkpoint given" in no_model.stderr
    before = exported["onnx"].read_bytes()
    exists = invoke([str(trained_model["checkpoint"]), "-o", str(exported["onnx"])])
    assert exists.exit_code == 1 and "--force" in exists.stderr
    assert exported["onnx"].read_bytes() == before
    no_dir = invoke([str(trained_model["checkpoint"]), "-o", str(tmp_path / "no" / "m.onnx")])
    assert no_dir.exit_code == 1 and "does not exist" in no_dir.stderr


@pytest.mark.extra()
@pytest.mark.parametrize("existing", [None, b"a file already there"])
def test_without_the_extra_it_says_how_to_install_it(trained_model: dict, tmp_path: Path,
                                                      existing: bytes | None) -> None:
    out = tmp_path / "m.onnx"
    if existing is not None:
        out.write_bytes(existing)
    program = ("import sys; sys.modules.update(dict.fromkeys(['onnx', 'onnxruntime', "
               "'onnxscript'])); from charlm.cli import main; "
               f"sys.argv = ['charlm', 'export', {str(trained_model['checkpoint'])!r}, '-o', "
               f"{str(out)!r}, '--force']; main()")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: charlm export needs ONNX support (onnx is not "
                                   "installed): pip install 'charlm-rnn[export]' (from a "
                                   "checkout: pip install -e '.[export]')")
    assert (out.read_bytes() if out.exists() else None) == existing


def small_checkpoint(tmp_path: Path, damage: str | None = None) -> Path:
    """A checkpoint of a small GRU with random weights; with `damage`, that weight is NaN."""
    torch.manual_seed(5)
    config = ModelConfig(vocab_size=30, embedding_dim=6, hidden_dim=8)
    state = RNNLanguageModel(config).state_dict()
    if damage is not None:
        state[damage].view(-1)[0] = float("nan")
    checkpoint = tmp_path / "model.pt"
    Checkpoint(config.to_dict(), state, [*SPECIAL_TOKENS, *map(str, range(27))],
               TokenizerSettings(splitter="punkt/trained-on-corpus",
                                 punkt={"abbrev_types": [], "collocations": [],
                                        "sent_starters": [], "ortho_context": []}).to_dict()
               ).save(checkpoint)
    return checkpoint


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    return line


def test_a_checkpoint_that_gives_nan_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    # One NaN in the output layer's bias: every next-word log-probability is NaN.
    checkpoint = small_checkpoint(tmp_path, damage="output.bias")
    before = files_in(tmp_path)
    line = one_line(invoke([str(checkpoint)]))
    assert line == (f"Error: {checkpoint} gives log-probabilities that are not finite (NaN or "
                    "infinity): its weights are damaged; nothing was written. Export an earlier "
                    "checkpoint")
    assert files_in(tmp_path) == before


def test_an_export_that_disagrees_with_the_checkpoint_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import copy

    from charlm.commands import export
    from charlm.model.step import NextWordStep

    real_export = export.export_onnx

    def export_other_weights(step: NextWordStep, path: Path) -> None:
        other = copy.deepcopy(step.model)
        with torch.no_grad():
            for parameter in other.parameters():
                parameter.add_(0.05)
        real_export(NextWordStep(other).eval(), path)

    monkeypatch.setattr(export, "export_onnx", export_other_weights)
    checkpoint = small_checkpoint(tmp_path)
    before = files_in(tmp_path)
    line = one_line(invoke([str(checkpoint)]))
    assert line.startswith("Error: the ONNX export of the gru model disagrees with the "
                           "checkpoint (log-probabilities differ by up to ")
    assert "nothing was written" in line
    assert files_in(tmp_path) == before


def test_force_replaces_only_an_earlier_export(tmp_path: Path) -> None:
    checkpoint = small_checkpoint(tmp_path)
    onnx, meta = tmp_path / "model.onnx", tmp_path / "model.onnx.json"
    for path, kind in [(onnx, "a charlm ONNX export"),
                       (meta, "a charlm export's JSON (format charlm-onnx)")]:
        path.write_text("my notes\n")
        before = files_in(tmp_path)
        line = one_line(invoke([str(checkpoint), "--force"]))
        assert line == (f"Error: {path} exists and is not {kind}; it is never replaced, not "
                        "even with --force: move it away or choose another --out")
        assert files_in(tmp_path) == before
        path.unlink()
    before = files_in(tmp_path)
    line = one_line(invoke([str(checkpoint), "-o", str(checkpoint), "--force"]))
    assert "is the checkpoint exported, which this run reads" in line
    assert files_in(tmp_path) == before

    assert invoke([str(checkpoint)]).exit_code == 0
    assert "already holds a charlm ONNX export; pass --force" in one_line(invoke([str(checkpoint)]))
    older = json.loads(meta.read_text(encoding="utf-8")) | {"written_by": "an older charlm"}
    meta.write_text(json.dumps(older), encoding="utf-8")
    replaced = invoke([str(checkpoint), "--force"])
    assert replaced.exit_code == 0, replaced.output
    assert "written_by" not in json.loads(meta.read_text(encoding="utf-8"))
    assert sorted(files_in(tmp_path)) == ["model.onnx", "model.onnx.json", "model.pt"]

