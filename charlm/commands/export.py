"""`charlm export`: the model as an ONNX file, usable without charlm or PyTorch.

ONNX, because every major language has a runtime for it (onnxruntime in Python, C, C++, C#, Java,
JavaScript, Rust...), where PyTorch's own deployment format (torch.export's .pt2) needs PyTorch to
load. The graph is one step, (word ids, state) → (log-probabilities, state), and the caller loops;
the vocabulary (with each word's written form, for output in the corpus's casing) and the
tokenizer settings go beside it as JSON. Before anything is written the export is run with
onnxruntime and compared with the checkpoint: an export that disagrees is refused, never written.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from charlm.checkpoint.trained import TrainedModel, load_trained
from charlm.commands.export_config import ExportConfig
from charlm.data.settings import NLTK_WORDS, WHITESPACE_WORDS
from charlm.data.tokenizer import SPECIAL_TOKEN, URL
from charlm.data.vocab import END_ID, SPECIAL_TOKENS, START_ID, UNKNOWN_ID
from charlm.distribution import __version__, install_hint
from charlm.errors import CharlmError
from charlm.model.step import NextWordStep, state_names
from charlm.paths import OwnOutput, StagedFile, check_destination

FORMAT = "charlm-onnx"
FORMAT_VERSION = 1
WORD_TOKENIZERS = {NLTK_WORDS: "nltk.tokenize.NLTKWordTokenizer, applied to each sentence",
                   WHITESPACE_WORDS: "whitespace: every whitespace-separated piece of a sentence "
                                     "is one word (Python's str.split())"}
# Log-probabilities may differ by float rounding only.
TOLERANCE = 1e-4
CHECK_LENGTHS = (1, 4, 9)  # words of the sentences the check runs, teacher-forced, in one batch

StepFunction = Callable[[np.ndarray, list[np.ndarray]], tuple[np.ndarray, list[np.ndarray]]]


def json_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".json")


def require_onnx() -> str:
    """onnxruntime's version; refuses when the optional packages are missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise CharlmError(f"charlm export needs ONNX support ({error.name} is not installed): "
                          f"{install_hint('export')}") from None
    return onnxruntime.__version__


def is_export(path: Path) -> bool:
    """Whether a file is an ONNX graph of charlm's export (word ids in, log-probabilities out)."""
    require_onnx()  # telling an export from another file takes onnx
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 (whatever cannot be read as ONNX is not an export)
        return False
    return ([value.name for value in graph.input][:1] == ["word_ids"]
            and [value.name for value in graph.output][:1] == ["log_probs"])


def is_description(path: Path) -> bool:
    """Whether a file is the JSON an export writes beside its ONNX file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == FORMAT


EXPORT_OUTPUT = OwnOutput("a charlm ONNX export", is_export)
DESCRIPTION_OUTPUT = OwnOutput(f"a charlm export's JSON (format {FORMAT})", is_description)


def check_outputs(config: ExportConfig, onnx_path: Path) -> Path:
    """Refuse, before any work, output paths that cannot be written, would replace a file
    that is not an earlier export (or one without --force), or are the checkpoint read;
    returns the JSON's path."""
    reading = [("the checkpoint exported", Path(str(config.model)))]
    check_destination(onnx_path, "--out", EXPORT_OUTPUT, config.force, reading)
    meta_path = json_path(onnx_path)  # named after the ONNX file, now known to be a file name
    check_destination(meta_path, "--out", DESCRIPTION_OUTPUT, config.force, reading)
    return meta_path


def export_onnx(step: NextWordStep, path: Path) -> None:
    """Write the one-step graph, with the batch size left free, as one self-contained file."""
    names = state_names(step.model)
    batch = torch.export.Dim("batch", min=1)
    args = (torch.tensor([START_ID, START_ID], dtype=torch.long), *step.zero_state(2))
    # The exporter reports its progress on stdout and warns about unrelated packages.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            torch.onnx.export(
                step, args, str(path), dynamo=True, external_data=False,
                input_names=["word_ids", *names],
                output_names=["log_probs", *(f"{name}_next" for name in names)],
                dynamic_shapes=({0: batch}, *({1: batch} for _ in names)),
            )
        except Exception as error:  # noqa: BLE001 (any exporter failure is one message)
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
            raise CharlmError(f"the {step.model.config.cell} model could not be exported to "
                              f"ONNX: {first}") from None
        finally:
            logging.disable(logging.NOTSET)


def teacher_forced(step: StepFunction, sentences: list[list[int]], layers: int, hidden: int,
                   parts: int) -> list[np.ndarray]:
    """Each sentence's next-word log-probabilities after SENTENCE_START and each of its words,
    from a step function run over all the sentences as one batch, the state carried."""
    steps = max(len(s) for s in sentences) + 1
    state = [np.zeros((layers, len(sentences), hidden), dtype=np.float32) for _ in range(parts)]
    current = np.full(len(sentences), START_ID, dtype=np.int64)
    collected = []
    for t in range(steps):
        log_probs, state = step(current, state)
        collected.append(log_probs)
        current = np.array([s[t] if t < len(s) else END_ID for s in sentences], dtype=np.int64)
    return [np.stack([collected[t][i] for t in range(len(s) + 1)])
            for i, s in enumerate(sentences)]


def check_export(path: Path, trained: TrainedModel, source: str) -> float:
    """The largest difference between the export's log-probabilities (run by onnxruntime) and
    the checkpoint's, over sentences of several lengths in one batch; refused when either
    gives a value that is not finite, which no difference can measure."""
    import onnxruntime

    model = trained.model
    config = model.config
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = ["word_ids", *state_names(model)]

    def run(ids: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        log_probs, *new_state = session.run(None, dict(zip(names, [ids, *state])))
        return log_probs, new_state

    rng = np.random.default_rng(0)
    sentences = [rng.integers(len(SPECIAL_TOKENS), config.vocab_size, n).tolist()
                 for n in CHECK_LENGTHS]
    exported = teacher_forced(run, sentences, config.layers, config.hidden_dim, len(names) - 1)
    expected = []
    with torch.no_grad():
        for words in sentences:
            logits, _ = model(torch.tensor([[START_ID, *words]]))
            expected.append(torch.log_softmax(logits[0].float(), dim=-1).numpy())
    if not all(np.isfinite(values).all() for values in expected):
        raise CharlmError(f"{source} gives log-probabilities that are not finite (NaN or "
                          "infinity): its weights are damaged; nothing was written. Export an "
                          "earlier checkpoint")
    if not all(np.isfinite(values).all() for values in exported):
        raise CharlmError(f"the ONNX export of the {config.cell} model gives log-probabilities "
                          "that are not finite (NaN or infinity) under onnxruntime; nothing was "
                          "written. Install the versions it was tested with: pip install -c "
                          "constraints.txt -e '.[export]' in a checkout of charlm")
    return max(float(np.abs(got - want).max()) for got, want in zip(exported, expected))


def description(trained: TrainedModel, onnx_name: str, source: str) -> dict[str, Any]:
    """What the JSON beside the ONNX file holds: all a program needs to use the model."""
    model = trained.model
    config = model.config
    names = state_names(model)
    state_shape = f"float32 [{config.layers}, batch, {config.hidden_dim}]"
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charlm_version": __version__,
        "onnx_file": onnx_name,
        "checkpoint": source,
        "model": config.to_dict(),
        "inputs": {"word_ids": "int64 [batch]: each sentence's current word (SENTENCE_START "
                               "first)",
                   **{name: f"{state_shape}: the state (zeros first, then the last step's "
                            f"{name}_next)" for name in names}},
        "outputs": {"log_probs": f"float32 [batch, {config.vocab_size}]: natural "
                                 "log-probabilities of the next word",
                    **{f"{name}_next": f"{state_shape}: the state after this word"
                       for name in names}},
        "state": names,
        # document: the state runs on from one sentence to the next (after a sentence's
        # SENTENCE_END is predicted, SENTENCE_START is read with the state as it is); sentence:
        # every sentence starts from a zero state.
        "context": trained.checkpoint.reads_context,
        "special_tokens": {"unknown": UNKNOWN_ID, "sentence_start": START_ID,
                           "sentence_end": END_ID},
        "vocabulary": trained.vocabulary.words,
        # Beside the vocabulary, in the same order: each word as the training corpus mostly
        # writes it, for text in the corpus's own casing ("darcy" → "Darcy").
        "written_forms": trained.vocabulary.written,
        "tokenizer": tokenizer_description(trained),
    }


def tokenizer_description(trained: TrainedModel) -> dict[str, Any]:
    """Every tokenizer setting, the sentence splitter's parameters included even when they come
    from NLTK's installed punkt_tab rather than from the checkpoint."""
    import nltk

    settings = trained.tokenizer.settings
    return {
        "lowercase": settings.lowercase,
        "sentence_splitter": {"kind": "nltk punkt", "source": settings.splitter,
                              "parameters": trained.tokenizer.punkt_parameters()},
        "words": settings.words,
        "word_tokenizer": WORD_TOKENIZERS[settings.words],
        "special_token_pattern": SPECIAL_TOKEN.pattern,
        "drop_urls": settings.drop_urls,
        "url_pattern": URL.pattern,
        "min_chars": settings.min_chars,
        "max_words": settings.max_words,
        "nltk_version": nltk.__version__,
    }


def export_model(config: ExportConfig) -> tuple[Path, Path, float]:
    """Export, check, and only then write both files; returns their paths and the check's
    largest difference."""
    onnx_path = config.onnx_path
    meta_path = check_outputs(config, onnx_path)
    trained = load_trained(str(config.model))
    runtime_version = require_onnx()  # after the paths: a wrong one is named with or without it
    try:
        with StagedFile(onnx_path) as staged, StagedFile(meta_path) as staged_meta:
            export_onnx(NextWordStep(trained.model).eval(), staged.path)
            worst = check_export(staged.path, trained, str(config.model))
            if not worst <= TOLERANCE:
                raise CharlmError(f"the ONNX export of the {trained.model.config.cell} model "
                                  "disagrees with the checkpoint (log-probabilities differ by up "
                                  f"to {worst:.3g} under onnxruntime {runtime_version}); nothing "
                                  "was written. Install the versions it was tested with: pip "
                                  "install -c constraints.txt -e '.[export]' in a checkout of "
                                  "charlm")
            document = description(trained, onnx_path.name, Path(str(config.model)).name)
            staged_meta.path.write_text(json.dumps(document, ensure_ascii=False),
                                        encoding="utf-8")
            staged.commit()
            staged_meta.commit()
    except OSError as error:
        raise CharlmError(f"could not write {onnx_path}: {error.strerror or error}") from None
    return onnx_path, meta_path, worst


def run_export(config: ExportConfig) -> None:
    """Run `charlm export` and say what was written."""
    import typer

    onnx_path, meta_path, worst = export_model(config)
    typer.echo(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1024:,.0f} KiB) and {meta_path} "
               f"(vocabulary and tokenizer); onnxruntime gives the checkpoint's next-word "
               f"log-probabilities within {worst:.1e}")
