"""Resume proven where it could fail: dropout's random state, a hand-written cell, every
optimiser's state and NT-ASGD's switch and average, a renamed corpus, checkpoints of the previous
digest, and the same command for a job and its reruns."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from helpers.corpora import write_corpus
from helpers.resuming import SignalAfter, assert_same_state, metric_lines, one_epoch, uninterrupted
from helpers.training import TINY, config_of, quiet_reporter, tiny_flags
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.cli import app
from charlm.errors import CharlmError, ConfigError
from charlm.training.loop import run_training
from charlm.training.signals import Interrupted

__all__ = ["one_epoch", "uninterrupted"]  # fixtures shared with test_resume


@pytest.mark.parametrize("cell", [
    {"cell": "gru", "dropout": 0.3},
    {"cell": "peephole-lstm", "dropout": 0.3},
], ids=["gru-dropout", "hand-written-peephole-lstm-dropout"])
def test_dropout_resumes_bit_exact_from_the_middle_of_an_epoch(
    corpus_file: Path, tmp_path: Path, cell: dict
) -> None:
    # Dropout draws from the random state at every step: a resumed run repeats the masks of an
    # uninterrupted one only if the checkpoint's random state is restored.
    flags = tiny_flags(corpus=str(corpus_file), epochs=1, print_every=95, **cell)
    whole, stopped = tmp_path / "whole.pt", tmp_path / "stopped.pt"
    run_training(config_of(**flags, out=str(whole)), quiet_reporter())
    with pytest.raises(Interrupted):
        run_training(config_of(**flags, out=str(stopped)), SignalAfter(150))
    progress = load_checkpoint(stopped)["progress"]
    assert progress["epoch"] == 0 and 0 < progress["batch_in_epoch"]
    run_training(config_of(corpus=str(corpus_file), resume=str(stopped)), quiet_reporter())
    assert_same_state(whole, stopped)
    assert metric_lines(stopped) == metric_lines(whole)


# Each sentence alone, a report at each of an epoch's 24 steps. SGD's rate halves at the start
# of every epoch (the first included), so a run stopped inside an epoch resumes at the rate that
# epoch already had. NT-ASGD switches at its 5th report (240 sentences).
OPTIMISERS = {
    "sgd": {"optimizer": "sgd", "learning_rate": 1.0, "lr_schedule": "epochs",
            "lr_decay": 0.5, "epochs": 2},
    "adam": {"optimizer": "adam", "learning_rate": 0.01, "epochs": 1},
    "asgd": {"optimizer": "asgd", "learning_rate": 4.0, "nonmono": 1, "weight_average": 0.0,
             "epochs": 1},
}


@pytest.mark.parametrize(("optimiser", "stop_after", "switched"), [
    ("sgd", 150, None), ("adam", 150, None),
    ("asgd", 100, False), ("asgd", 300, True),
], ids=["sgd-epochs-schedule", "adam", "asgd-before-the-switch", "asgd-after-the-switch"])
def test_every_optimiser_resumes_bit_exact_from_the_middle_of_an_epoch(
    corpus_file: Path, tmp_path: Path, optimiser: str, stop_after: int, switched: bool | None
) -> None:
    flags = tiny_flags(corpus=str(corpus_file), print_every=48, context="sentence",
                       **OPTIMISERS[optimiser])
    whole, stopped = tmp_path / "whole.pt", tmp_path / "stopped.pt"
    run_training(config_of(**flags, out=str(whole)), quiet_reporter())
    with pytest.raises(Interrupted):
        run_training(config_of(**flags, out=str(stopped)), SignalAfter(stop_after))
    interrupted = load_checkpoint(stopped)
    assert interrupted["progress"]["epoch"] == 0 and interrupted["progress"]["batch_in_epoch"]
    if switched is not None:  # the stop falls where the test says, before or after the switch
        assert (interrupted["nt_asgd"]["switched_at"] is not None) == switched
    run_training(config_of(corpus=str(corpus_file), resume=str(stopped)), quiet_reporter())
    assert_same_state(whole, stopped)
    assert metric_lines(stopped) == metric_lines(whole)
    first, second = load_checkpoint(whole), load_checkpoint(stopped)
    assert first.get("nt_asgd") == second.get("nt_asgd")
    assert first["lr_schedule"] == second["lr_schedule"]
    if optimiser == "sgd":
        assert first["lr_schedule"]["reductions"] == 2  # at the start of each epoch
    if optimiser == "asgd":
        assert first["nt_asgd"]["switched_at"] is not None
        assert first["weight_average"]["updates"] == second["weight_average"]["updates"] > 0
        for name, weights in first["weight_average"]["training_weights"].items():
            assert torch.equal(weights, second["weight_average"]["training_weights"][name])


def test_a_checkpoint_without_each_ranks_random_state_resumes_from_the_cpu_state(
    corpus_file: Path, tmp_path: Path
) -> None:
    # Checkpoints written before every rank's random state was kept hold only torch_rng_state.
    flags = tiny_flags(corpus=str(corpus_file), epochs=1, print_every=95, dropout=0.3)
    whole, stopped = tmp_path / "whole.pt", tmp_path / "stopped.pt"
    run_training(config_of(**flags, out=str(whole)), quiet_reporter())
    with pytest.raises(Interrupted):
        run_training(config_of(**flags, out=str(stopped)), SignalAfter(150))
    document = load_checkpoint(stopped)
    del document["rng_states"]
    save_checkpoint(document, stopped)
    run_training(config_of(corpus=str(corpus_file), resume=str(stopped)), quiet_reporter())
    assert_same_state(whole, stopped)


def test_a_renamed_and_moved_corpus_resumes(
    one_epoch: Path, corpus_file: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere" / "renamed.txt"
    moved.parent.mkdir()
    corpus_file.rename(moved)
    run_training(config_of(corpus=str(moved), resume=str(one_epoch), epochs=2), quiet_reporter())
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 2


def as_written_by_charlm_0_1_0(checkpoint: Path, corpus: Path) -> None:
    """Give `checkpoint` the corpus digest of charlm 0.1.0: the file's name, then its bytes."""
    document = load_checkpoint(checkpoint)
    digest = hashlib.sha256(corpus.name.encode() + corpus.read_bytes()).hexdigest()
    assert document["corpus"]["fingerprint"] != digest
    document["corpus"]["fingerprint"] = digest
    save_checkpoint(document, checkpoint)


def test_a_checkpoint_of_the_previous_digest_resumes_on_its_corpus_only(
    one_epoch: Path, corpus_file: Path, tmp_path: Path
) -> None:
    as_written_by_charlm_0_1_0(one_epoch, corpus_file)
    (tmp_path / "other").mkdir()
    other = write_corpus(tmp_path / "other" / corpus_file.name, seed=5)  # same name, new text
    with pytest.raises(CharlmError, match="not the corpus it was trained on"):
        run_training(config_of(corpus=str(other), resume=str(one_epoch), epochs=2),
                     quiet_reporter())
    run_training(config_of(corpus=str(corpus_file), resume=str(one_epoch), epochs=2),
                 quiet_reporter())
    assert load_checkpoint(one_epoch)["progress"]["epoch"] == 2


def test_the_same_command_starts_resumes_and_then_has_nothing_to_do(
    corpus_file: Path, tmp_path: Path, uninterrupted: Path
) -> None:
    # A requeued batch job runs its command again: the first run is stopped mid-epoch, the
    # second finishes, the third finds nothing to do. The end is the uninterrupted run's.
    out = tmp_path / "job.pt"
    job = tiny_flags(corpus=str(corpus_file), out=str(out), epochs=2, print_every=95,
                     resume="auto")
    with pytest.raises(Interrupted):
        run_training(config_of(**job), SignalAfter(150))
    assert load_checkpoint(out)["progress"]["epoch"] == 0
    run_training(config_of(**job), quiet_reporter())
    assert_same_state(uninterrupted, out)
    assert metric_lines(out) == metric_lines(uninterrupted)

    before = (out.read_bytes(), out.with_name(out.name + ".metrics.jsonl").read_bytes())
    args = ["train", str(corpus_file), "-o", str(out), "--resume", "auto", "--epochs", "2",
            "--print-every", "95", *TINY]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{out}: already trained 2 of 2 epochs; nothing to do"
    assert (out.read_bytes(), out.with_name(out.name + ".metrics.jsonl").read_bytes()) == before


def test_resume_auto_needs_the_output_path(corpus_file: Path) -> None:
    with pytest.raises(ConfigError, match="--resume auto needs --out"):
        run_training(config_of(**tiny_flags(corpus=str(corpus_file), resume="auto")),
                     quiet_reporter())


def test_resume_auto_refuses_a_checkpoint_of_another_run(
    one_epoch: Path, corpus_file: Path
) -> None:
    before = one_epoch.read_bytes()
    with pytest.raises(ConfigError, match="--hidden-dim is 32 here but 16"):
        run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(one_epoch), epochs=2,
                                            resume="auto", hidden_dim=32)), quiet_reporter())
    assert one_epoch.read_bytes() == before
