"""Nothing is lost at the edges: no writer replaces a file it did not write (not even with
--force) or a file its run reads, however that file is spelled; a named pipe, a socket or a
device is answered in one line, never opened; a directory given where a file is wanted (or the
reverse) gets one line; every write reaches the disk whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import write_corpus
from helpers.training import TINY, config_of, one_error_line, quiet_reporter, tiny_flags
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.paths import write_atomically
from charlm.training.loop import run_training
from charlm.training.outputs import metrics_path


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every regular file under `directory` (never a named pipe, which reading would block on),
    by its path inside it."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def refused(args: list[str], directory: Path, *expected: str, code: int = 1) -> str:
    """Run a command that must fail with one line holding each of `expected`, leaving every
    file under `directory` as it was and no new one; returns the line."""
    before = snapshot(directory)
    result = invoke(args)
    line = one_error_line(result, code=code)
    for part in expected:
        assert part in line, (args, line)
    assert snapshot(directory) == before, args
    return line


# --- Special files: never opened -------------------------------------------------------------

@contextmanager
def released(fifo: Path) -> Iterator[None]:
    """While the block runs, a reader that opens `fifo` soon reads its end instead of waiting
    forever for a writer: a command that wrongly opens it fails its test rather than hangs."""
    done = threading.Event()

    def release() -> None:
        while not done.wait(0.05):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # nobody has it open for reading

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


KINDS = {"fifo": "a named pipe (FIFO)", "socket": "a socket", "device": "a character device"}


@pytest.fixture(params=list(KINDS))
def special(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Path, str]]:
    """texts/special.txt, a named pipe, a socket or (a link to) /dev/null, beside a real text
    file; with what it is, in charlm's words. The directory's path is short: a socket's
    address has a limit."""
    texts = tmp_path_factory.mktemp("s") / "texts"
    texts.mkdir()
    write_corpus(texts / "real.txt")
    path = texts / "special.txt"
    listener = None
    if request.param == "fifo":
        os.mkfifo(path)
    elif request.param == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
    else:
        path.symlink_to(os.devnull)
    with released(path) if request.param == "fifo" else nullcontext():
        yield path, KINDS[request.param]
    if listener is not None:
        listener.close()


Command = Callable[[str, dict, Path], list[str]]
# Every command that reads a file, given (the special file, the trained model, an output path)
# and run with the special file where it reads one.
READING: dict[str, Command] = {
    "generate": lambda s, model, out: ["generate", s],
    "info": lambda s, model, out: ["info", s],
    "complete": lambda s, model, out: ["complete", s],
    "score model": lambda s, model, out: ["score", s, str(model["train"])],
    "score text": lambda s, model, out: ["score", str(model["checkpoint"]), s],
    "evaluate model": lambda s, model, out: ["evaluate", s, str(model["train"])],
    "evaluate file": lambda s, model, out: ["evaluate", str(model["checkpoint"]), s],
    "export": lambda s, model, out: ["export", s, "-o", str(out.with_suffix(".onnx"))],
    "plot": lambda s, model, out: ["plot", s, "-o", str(out.with_suffix(".png"))],
    "train corpus": lambda s, model, out: ["train", s, "-o", str(out), *TINY],
    "train corpus directory": lambda s, model, out: ["train", str(Path(s).parent), "-o",
                                                     str(out), *TINY],
    "train --valid": lambda s, model, out: ["train", str(model["train"]), "--valid", s, "-o",
                                            str(out), *TINY],
    "train --init-from": lambda s, model, out: ["train", str(model["train"]), "--init-from", s,
                                                "-o", str(out)],
    "train --resume": lambda s, model, out: ["train", str(model["train"]), "--resume", s],
}
# Every command that writes a file, run with the special file where it writes.
WRITING: dict[str, Command] = {
    "train --out": lambda s, model, out: ["train", str(model["train"]), "-o", s, "--force",
                                          *TINY],
    "train --out --resume auto": lambda s, model, out: ["train", str(model["train"]), "-o", s,
                                                        "--resume", "auto", *TINY],
    "train --tensorboard": lambda s, model, out: ["train", str(model["train"]), "-o", str(out),
                                                  "--tensorboard", s, *TINY],
    "evaluate --per-token": lambda s, model, out: ["evaluate", str(model["checkpoint"]),
                                                   str(model["train"]), "--per-token", s,
                                                   "--force"],
    "plot --out": lambda s, model, out: ["plot", str(model["metrics_file"]), "-o", s, "--force"],
    "export --out": lambda s, model, out: ["export", str(model["checkpoint"]), "-o", s,
                                           "--force"],
}


@pytest.mark.parametrize("command", READING)
def test_a_special_file_to_read_is_named_never_opened(
    command: str, special: tuple[Path, str], trained_model: dict
) -> None:
    path, kind = special
    args = READING[command](str(path), trained_model, path.parent.parent / "out.pt")
    line = refused(args, path.parent.parent, str(path), f" is {kind}, not ")
    if command == "train corpus directory":
        assert "in the corpus directory" in line


@pytest.mark.parametrize("command", WRITING)
def test_a_special_file_to_write_is_named_never_replaced(
    command: str, special: tuple[Path, str], trained_model: dict
) -> None:
    path, kind = special
    args = WRITING[command](str(path), trained_model, path.parent.parent / "out.pt")
    refused(args, path.parent.parent, f"{path} is {kind}, not a")
    assert path.is_symlink() or not path.is_file()  # still what it was


# --- A directory where a file is wanted, or the reverse --------------------------------------

def test_a_directory_for_a_file_or_a_file_for_a_directory_is_one_line(
    tmp_path: Path, trained_model: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(tmp_path / "corpus.txt")
    checkpoint = tmp_path / "model.pt"
    shutil.copy(trained_model["checkpoint"], checkpoint)
    shutil.copy(trained_model["metrics_file"], metrics_path(checkpoint))
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    is_directory = ". is a directory; give a file name with"
    for args, expected in [
        (["train", "corpus.txt", "-o", ".", *TINY], is_directory),
        (["train", "corpus.txt", "-o", ".", "--resume", "auto", *TINY], is_directory),
        (["train", "corpus.txt", "-o", ".", "--keep-best", *TINY], is_directory),
        (["train", "corpus.txt", "-o", "runs", *TINY], "runs is a directory; give a file name"),
        (["train", "corpus.txt", "--init-from", "."], ". is a directory, not a checkpoint file"),
        (["train", "corpus.txt", "--resume", "runs"], "runs is a directory, not a checkpoint"),
        (["evaluate", "model.pt", "corpus.txt", "--per-token", "."], is_directory),
        (["plot", "model.pt.metrics.jsonl", "-o", "."], is_directory),
        (["export", "model.pt", "-o", "."], is_directory),
        (["train", "corpus.txt", "-o", "new.pt", "--tensorboard", "corpus.txt", *TINY],
         "--tensorboard corpus.txt is a file, not a directory"),
        (["train", "corpus.txt", "-o", "new.pt", "--tensorboard", "corpus.txt/board", *TINY],
         "cannot create --tensorboard corpus.txt/board: corpus.txt is a file, not a directory"),
    ]:
        refused(args, tmp_path, expected)


# --- Nothing read is ever a destination ------------------------------------------------------

def read_file_cases(tmp: Path, model: Path) -> dict[str, tuple[list[str], str]]:
    """Runs whose destination is a file they read, however spelled: (arguments, what the
    message calls that file)."""
    corpus = write_corpus(tmp / "corpus.txt")
    (tmp / "link.txt").symlink_to(corpus)
    os.link(corpus, tmp / "hard.txt")
    texts = tmp / "texts"
    texts.mkdir()
    write_corpus(texts / "a.txt")
    write_corpus(texts / "b.txt", seed=1)
    valid = write_corpus(tmp / "valid.txt", sentences=60, seed=2)
    os.link(model, tmp / "model-link.pt")
    force = ["--force", *TINY]
    return {
        "the corpus": (["train", str(corpus), "-o", str(corpus), *force], "is the corpus,"),
        "the corpus spelled otherwise": (
            ["train", str(corpus), "-o", str(texts / ".." / "corpus.txt"), *force],
            "is the corpus ("),
        "a symbolic link to the corpus": (
            ["train", str(corpus), "-o", str(tmp / "link.txt"), *force], "is the corpus ("),
        "a hard link of the corpus": (
            ["train", str(corpus), "-o", str(tmp / "hard.txt"), *force], "is the corpus ("),
        "a file of a corpus directory": (
            ["train", str(texts), "-o", str(texts / "b.txt"), *force], "is a file of the corpus"),
        "the validation corpus": (
            ["train", str(corpus), "--valid", str(valid), "-o", str(valid), *force],
            "is the --valid corpus,"),
        "the model fine-tuned": (
            ["train", str(corpus), "--init-from", str(model), "-o", str(model), "--force"],
            "is the model --init-from starts from,"),
        "a hard link of the checkpoint resumed": (
            ["train", str(corpus), "--resume", str(model), "-o", str(tmp / "model-link.pt"),
             "--epochs", "9", "--force"], "is the checkpoint --resume continues ("),
    }


@pytest.mark.parametrize("case", [
    "the corpus", "the corpus spelled otherwise", "a symbolic link to the corpus",
    "a hard link of the corpus", "a file of a corpus directory", "the validation corpus",
    "the model fine-tuned", "a hard link of the checkpoint resumed"])
def test_a_file_the_run_reads_is_never_its_output(case: str, tmp_path: Path,
                                                  trained_model: dict) -> None:
    model = tmp_path / "model.pt"
    shutil.copy(trained_model["checkpoint"], model)
    args, what = read_file_cases(tmp_path, model)[case]
    refused(args, tmp_path, what, "which this run reads; choose another --out")


# --- Each writer replaces only its own earlier output, and only with --force -----------------

def test_a_metrics_file_charlm_did_not_write_is_never_replaced(tmp_path: Path,
                                                               corpus_file: Path) -> None:
    out = tmp_path / "new.pt"
    notes = metrics_path(out)
    notes.write_text("my own notes\n")
    for force in ([], ["--force"]):
        refused(["train", str(corpus_file), "-o", str(out), *force, *TINY], tmp_path,
                f"{notes} exists and is not a charlm metrics file; it is never replaced, not "
                "even with --force")


def test_an_earlier_runs_metrics_go_with_its_checkpoint(tmp_path: Path, corpus_file: Path,
                                                        trained_model: dict) -> None:
    out = tmp_path / "run.pt"
    shutil.copy(trained_model["checkpoint"], out)
    shutil.copy(trained_model["metrics_file"], metrics_path(out))
    refused(["train", str(corpus_file), "-o", str(out), *TINY], tmp_path,
            "already holds a charlm checkpoint; pass --force")
    metrics_path(out).write_text("my own notes\n")
    refused(["train", str(corpus_file), "-o", str(out), "--force", *TINY], tmp_path,
            "exists and is not a charlm metrics file")
    # Resumed in place, a run continues its metrics file, which must be charlm's.
    refused(["train", str(trained_model["train"]), "--resume", str(out), "--epochs", "9"],
            tmp_path, "exists and is not a charlm metrics file")
    # With --force, a new run replaces the earlier checkpoint and the metrics that went with it.
    shutil.copy(trained_model["metrics_file"], metrics_path(out))
    result = invoke(["train", str(corpus_file), "-o", str(out), "--force", "--epochs", "1", *TINY])
    assert result.exit_code == 0, result.output
    reports = [json.loads(line) for line in metrics_path(out).read_text().splitlines()]
    assert reports == load_checkpoint(out)["progress"]["metrics"]


def first_image(tmp_path: Path, metrics: Path) -> Path:
    out = tmp_path / "loss.png"
    result = invoke(["plot", str(metrics), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.extra("plot")
def test_plot_replaces_an_image_only_with_force(tmp_path: Path, trained_model: dict) -> None:
    metrics = tmp_path / "run.pt.metrics.jsonl"
    shutil.copy(trained_model["metrics_file"], metrics)
    out = first_image(tmp_path, metrics)
    refused(["plot", str(metrics), "-o", str(out)], tmp_path,
            f"{out} already holds an image of the format its name says; pass --force")
    out.write_bytes(out.read_bytes() + b"an older plot")
    replaced = invoke(["plot", str(metrics), "-o", str(out), "--force"])
    assert replaced.exit_code == 0, replaced.output
    assert not out.read_bytes().endswith(b"an older plot")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", metrics.name]


@pytest.mark.extra("plot")
def test_plot_never_replaces_what_is_not_an_image_or_a_file_it_reads(
    tmp_path: Path, trained_model: dict
) -> None:
    metrics = tmp_path / "run.pt.metrics.jsonl"
    shutil.copy(trained_model["metrics_file"], metrics)
    checkpoint = tmp_path / "model.png"
    shutil.copy(trained_model["checkpoint"], checkpoint)
    (tmp_path / "notes.svg").write_text("my notes\n")
    for out in (checkpoint, tmp_path / "notes.svg"):
        refused(["plot", str(metrics), "-o", str(out), "--force"], tmp_path,
                f"{out} exists and is not an image of the format its name says; it is never "
                "replaced, not even with --force")
    refused(["plot", str(metrics), "-o", str(metrics), "--force"], tmp_path,
            "is a metrics file plotted, which this run reads")
    refused(["plot", str(metrics), "-o", str(tmp_path / "loss.txt")], tmp_path,
            "its name gives no image format matplotlib writes")


def test_per_token_replaces_only_its_own_file_with_force(tmp_path: Path,
                                                         trained_model: dict) -> None:
    model, text = tmp_path / "model.pt", tmp_path / "valid.txt"
    shutil.copy(trained_model["checkpoint"], model)
    shutil.copy(trained_model["valid"], text)
    out = tmp_path / "tokens.tsv"
    evaluate = ["evaluate", str(model), str(text), "--per-token"]
    assert invoke([*evaluate, str(out)]).exit_code == 0
    refused([*evaluate, str(out)], tmp_path,
            "already holds a per-token file of charlm evaluate; pass --force")
    out.write_text(out.read_text() + "an older row\n")
    assert invoke([*evaluate, str(out), "--force"]).exit_code == 0
    assert not out.read_text().endswith("an older row\n")
    (tmp_path / "notes.tsv").write_text("my\tnotes\n")
    for path, expected in [(tmp_path / "notes.tsv", "exists and is not a per-token file"),
                           (model, "is the model evaluated, which this run reads"),
                           (text, "is a file evaluated, which this run reads")]:
        refused([*evaluate, str(path), "--force"], tmp_path, expected)


@pytest.mark.extra("plot")
def test_plot_and_per_token_force_come_from_their_variables(tmp_path: Path,
                                                            trained_model: dict) -> None:
    metrics = tmp_path / "run.pt.metrics.jsonl"
    shutil.copy(trained_model["metrics_file"], metrics)
    out = first_image(tmp_path, metrics)
    result = CliRunner().invoke(app, ["plot", str(metrics), "-o", str(out)],
                                env={"CHARLM_PLOT_FORCE": "1"})
    assert result.exit_code == 0, result.output
    tsv = tmp_path / "tokens.tsv"
    evaluate = ["evaluate", str(trained_model["checkpoint"]), str(trained_model["valid"]),
                "--per-token", str(tsv)]
    assert invoke(evaluate).exit_code == 0
    again = CliRunner().invoke(app, evaluate, env={"CHARLM_EVALUATE_FORCE": "yes"})
    assert again.exit_code == 0, again.output


# --- Every write whole, and on the disk ------------------------------------------------------

def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_leaves_the_file_as_it_was(tmp_path: Path,
                                                      failure: BaseException) -> None:
    path = tmp_path / "data.txt"
    path.write_text("the old file\n")

    def half_then_fail(staged: Path) -> None:
        staged.write_text("half of the new")
        raise failure

    with pytest.raises(type(failure)):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "the old file\n"
    assert temporaries(tmp_path) == []
    write_atomically(path, lambda staged: staged.write_text("the new file\n"))
    assert path.read_text() == "the new file\n" and temporaries(tmp_path) == []


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files and directories whose data is flushed to the disk (os.fsync),
    in order."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name a file descriptor")
    names: list[str] = []
    real = os.fsync

    def fsync(descriptor: int) -> None:
        names.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    return names


@pytest.mark.extra("plot")
def test_every_write_reaches_the_disk(tmp_path: Path, corpus_file: Path, trained_model: dict,
                                      synced: list[str]) -> None:
    out = tmp_path / "run.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=1,
                                        print_every=100)), quiet_reporter())
    reports = metrics_path(out).read_text().count("\n")
    assert reports >= 2
    # Each report's line, then each checkpoint's staged file and the rename in its directory.
    assert synced.count(str(metrics_path(out))) == reports
    staged = [name for name in synced if Path(name).name.startswith(".run.pt.tmp-")]
    assert len(staged) >= 1
    assert synced[synced.index(staged[-1]) + 1] == str(tmp_path)
    synced.clear()
    assert invoke(["plot", str(metrics_path(out)), "-o", str(tmp_path / "loss.png")]
                  ).exit_code == 0
    assert invoke(["evaluate", str(trained_model["checkpoint"]), str(trained_model["valid"]),
                   "--per-token", str(tmp_path / "tokens.tsv")]).exit_code == 0
    prefixes = [Path(name).name.split(".tmp-")[0] for name in synced if ".tmp-" in name]
    assert prefixes == [".loss.png", ".tokens.tsv"]
