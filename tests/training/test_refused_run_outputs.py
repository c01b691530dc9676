"""A run refused by a check it makes after claiming its outputs (the output paths checked and
locked) leaves every one of them as it was: the checkpoint at --out, its metrics file,
--keep-best's copy and the --tensorboard directory (docs/bad-input.md). Only the corpus cache
may change."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.corpora import write_corpus
from helpers.training import one_error_line
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.cli import app
from charlm.training.checkpointer import best_path
from charlm.training.outputs import metrics_path

NEW_MODEL = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50"]
# The trained model's run had 3 epochs: a resumed one trains on.
RESUMED = ["--epochs", "4"]


def damaged(trained: dict, tmp: Path, change: Callable[[dict], None]) -> Path:
    """A copy of the trained model's checkpoint, `change`d."""
    document = load_checkpoint(trained["checkpoint"])
    change(document)
    path = tmp / "damaged.pt"
    save_checkpoint(document, path)
    return path


def without_a_weight(document: dict) -> None:
    """The weights the checkpoint holds as the model (with a weight average: the average) lack
    one tensor; the training weights a resumed run goes on from are whole."""
    document["model_state"].pop(next(iter(document["model_state"])))


def optimizer_of_another_model(document: dict) -> None:
    document["optimizer_state"]["param_groups"] = []


def stopped_inside_an_epoch_of_two_ranks(document: dict) -> None:
    document["progress"]["batch_in_epoch"] = 1
    document["stream_states"] = document["stream_states"] * 2


def short_text(tmp: Path, trained: dict) -> list[str]:
    # Document context: about 60 tokens, fewer than the batch's rows.
    return [str(write_corpus(tmp / "short.txt", sentences=8)), "--batch-size", "128",
            *NEW_MODEL]


def empty_text(tmp: Path, trained: dict) -> list[str]:
    (tmp / "empty.txt").write_text("\n\n")
    return [str(tmp / "empty.txt"), *NEW_MODEL]


def one_sentence(tmp: Path, trained: dict) -> list[str]:
    (tmp / "one.txt").write_text("Only one sentence here.\n")
    return [str(tmp / "one.txt"), *NEW_MODEL]


def resumed_on_another_corpus(tmp: Path, trained: dict) -> list[str]:
    other = write_corpus(tmp / "other.txt", sentences=40, seed=5)
    return [str(other), "--resume", str(trained["checkpoint"]), *RESUMED]


def resumed(change: Callable[[dict], None]) -> Callable[[Path, dict], list[str]]:
    def args(tmp: Path, trained: dict) -> list[str]:
        return [str(trained["train"]), "--resume", str(damaged(trained, tmp, change)),
                *RESUMED]
    return args


def initialised_from_damaged_weights(tmp: Path, trained: dict) -> list[str]:
    return [str(trained["train"]), "--init-from", str(damaged(trained, tmp, without_a_weight))]


# Each check that can refuse a run after its outputs are claimed, and what it says.
LATE_REFUSALS: dict[str, tuple[Callable[[Path, dict], list[str]], str]] = {
    "document context, fewer tokens than a batch's rows": (
        short_text, "fewer than the 128 rows a step trains on side by side"),
    "a corpus holding no sentences": (empty_text, "holds no sentences to train on"),
    "too few sentences to hold out validation": (
        one_sentence, "too few to hold out a validation split"),
    "--resume on another corpus": (resumed_on_another_corpus, "is not the corpus it was trained"),
    "--resume of a training state that does not fit": (
        resumed(optimizer_of_another_model), "its training state does not fit this model"),
    "--resume of a weight average that does not fit": (
        resumed(without_a_weight), "its training state does not fit this model"),
    "--resume inside an epoch cut for other ranks": (
        resumed(stopped_inside_an_epoch_of_two_ranks),
        "stopped inside an epoch of running text cut for 2 rank(s), and this run has 1"),
    "--init-from weights that do not fit": (
        initialised_from_damaged_weights, "its weights do not fit the model it describes"),
}


def files_under(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("tensorboard", [
    False, pytest.param(True, marks=pytest.mark.extra("tensorboard"))])
@pytest.mark.parametrize("case", list(LATE_REFUSALS))
def test_a_run_refused_after_claiming_its_outputs_leaves_them_as_they_were(
        case: str, tensorboard: bool, tmp_path: Path, trained_model: dict) -> None:
    make_args, expected = LATE_REFUSALS[case]
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    out = outputs / "model.pt"
    for copy in (out, best_path(out)):
        shutil.copy(trained_model["checkpoint"], copy)
    # An earlier run's history: not the one a resumed checkpoint holds.
    first_report = trained_model["metrics_file"].read_text().splitlines()[0]
    metrics_path(out).write_text(first_report + "\n")
    board = outputs / "board"
    board.mkdir()
    (board / "events.out.tfevents.1.host.1.0").write_bytes(b"an earlier run's events")
    args = [*make_args(tmp_path, trained_model), "-o", str(out), "--force", "--keep-best",
            *(["--tensorboard", str(board)] if tensorboard else []),
            "--samples", "0", "--device", "cpu"]
    before = files_under(outputs)
    result = CliRunner().invoke(app, ["train", *args])
    assert expected in one_error_line(result, code=1)
    assert files_under(outputs) == before
